#!/usr/bin/env bash
# Real tus clients against the tusd binary on 127.0.0.1:
#   tus-js-client uploads a multi-MiB file, is cut mid-upload, resumes, and
#   the downloaded bytes are checked; it also uploads with parallelUploads
#   (concatenation) and uploadLengthDeferred; tuspy uploads it in chunks, with
#   checksums, and a tuspy run is stopped part-way and resumed by URL.
# Usage: scripts/interop.sh     builds tusd in release mode, or uses TUSD_BIN when set
# Needs ../shared/tools beside the project (or TUS_TOOLS=/path/to/tools).
# `cargo test --all-features` runs this script (tests/interop.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS=${TUS_TOOLS:-../shared/tools}
if [ ! -w "$TOOLS" ]; then
  [ -d /tmp/tus-tools ] || cp -r "$TOOLS" /tmp/tus-tools
  TOOLS=/tmp/tus-tools
fi

if [ -z "${TUSD_BIN:-}" ]; then
  cargo build --quiet --release --features cli --bin tusd
  TUSD_BIN=./target/release/tusd
fi
WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
RUST_LOG=warn "$TUSD_BIN" --host 127.0.0.1 --port "$PORT" --upload-dir "$WORK/data" >"$WORK/tusd.log" 2>&1 &
TUSD=$!
trap 'kill $TUSD 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
ENDPOINT="http://127.0.0.1:$PORT/files/"

head -c $((8 * 1024 * 1024 + 12345)) /dev/urandom >"$WORK/file.bin"
WANT=$(sha256sum "$WORK/file.bin" | cut -d' ' -f1)

check_download() { # URL
  local got
  got=$(curl -sf "$1" | sha256sum | cut -d' ' -f1)
  [ "$got" = "$WANT" ] || { echo "FAIL: downloaded bytes of $1 differ" >&2; exit 1; }
}

"$TOOLS/peers/install-node.sh" >/dev/null

echo "== tus-js-client: whole file, verified by GET"
node "$TOOLS/clients/tusjs-upload.mjs" "$ENDPOINT" "$WORK/file.bin" --quiet --verify-get | tee "$WORK/js1.out"
grep -q '^DONE' "$WORK/js1.out"

echo "== tus-js-client: cut mid-upload (mid-body), then resumed"
set +e
node "$TOOLS/clients/tusjs-upload.mjs" "$ENDPOINT" "$WORK/file.bin" 1048576 --abort-after=3500000 --quiet | tee "$WORK/js2.out"
CODE=${PIPESTATUS[0]}
set -e
[ "$CODE" = 3 ] || { echo "FAIL: expected the deliberate abort (exit 3), got $CODE" >&2; exit 1; }
URL=$(sed -n 's/^UPLOAD_URL //p' "$WORK/js2.out" | head -1)
OFFSET=$(sed -n 's/^SERVER_OFFSET //p' "$WORK/js2.out" | head -1)
echo "server kept $OFFSET bytes of the cut upload"
[ "$OFFSET" -eq 3500000 ] || { echo "FAIL: server offset $OFFSET, expected every byte sent (3500000)" >&2; exit 1; }
node "$TOOLS/clients/tusjs-upload.mjs" "$ENDPOINT" "$WORK/file.bin" 1048576 --resume-url="$URL" --quiet --verify-get | tee "$WORK/js3.out"
grep -q '^RESUMED_FROM 3500000' "$WORK/js3.out"
grep -q '^DONE' "$WORK/js3.out"
check_download "$URL"

echo "== tus-js-client: creation-with-upload"
node "$TOOLS/clients/tusjs-upload.mjs" "$ENDPOINT" "$WORK/file.bin" 3000000 --with-upload --quiet --verify-get | grep '^DONE'

echo "== tuspy: chunked upload"
"$TOOLS/clients/tuspy-upload.sh" "$ENDPOINT" "$WORK/file.bin" 2097152 | tee "$WORK/py1.out"
URL=$(sed -n 's/^UPLOAD_URL //p' "$WORK/py1.out" | head -1)
check_download "$URL"

echo "== tuspy: stopped part-way, resumed by a new uploader"
set +e
"$TOOLS/clients/tuspy-upload.sh" "$ENDPOINT" "$WORK/file.bin" 1048576 --stop-at 4194304 | tee "$WORK/py2.out"
CODE=${PIPESTATUS[0]}
set -e
[ "$CODE" = 3 ] || { echo "FAIL: expected tuspy to stop on purpose (exit 3), got $CODE" >&2; exit 1; }
URL=$(sed -n 's/^UPLOAD_URL //p' "$WORK/py2.out" | head -1)
"$TOOLS/clients/tuspy-upload.sh" "$ENDPOINT" "$WORK/file.bin" 1048576 --resume-url "$URL" | tee "$WORK/py3.out"
grep -q '^DONE' "$WORK/py3.out"
check_download "$URL"

echo "== tus-js-client: parallelUploads (concatenation)"
node "$TOOLS/clients/tusjs-upload.mjs" "$ENDPOINT" "$WORK/file.bin" --parallel=3 --quiet --verify-get | tee "$WORK/js4.out"
grep -q '^VERIFIED' "$WORK/js4.out"
check_download "$(sed -n 's/^UPLOAD_URL //p' "$WORK/js4.out" | tail -1)"

echo "== tus-js-client: uploadLengthDeferred"
node "$TOOLS/clients/tusjs-upload.mjs" "$ENDPOINT" "$WORK/file.bin" 1000000 --defer-length --quiet --verify-get | tee "$WORK/js5.out"
grep -q '^VERIFIED' "$WORK/js5.out"

echo "== tuspy: checksums on every chunk"
"$TOOLS/clients/tuspy-upload.sh" "$ENDPOINT" "$WORK/file.bin" 2097152 --checksum --verify-get | tee "$WORK/py4.out"
grep -q '^DONE' "$WORK/py4.out"
check_download "$(sed -n 's/^UPLOAD_URL //p' "$WORK/py4.out" | head -1)"

echo "INTEROP OK"
