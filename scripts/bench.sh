#!/usr/bin/env bash
# Benchmarks of the tusd binary, each figure a ratio against a baseline
# measured in the same run:
#   1. one 1 GiB upload in a single PATCH over loopback into the file store,
#      against writing the same bytes straight into a file in the same folder,
#      and against tus-node-server (../shared/tools);
#   2. 2,000 uploads of 16 KiB at concurrency 16 (POST + PATCH + HEAD each),
#      against tus-node-server;
#   3. tusd's peak RSS while 500 uploads trickle in at once at 8 KiB/s.
# Usage: scripts/bench.sh [RUNS]   (RUNS of the 1 GiB upload, median reported; default 3)
# BENCH_DIR=/dev/shm/x puts the upload folders on tmpfs (default: under target/).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
TOOLS=${TUS_TOOLS:-../shared/tools}
if [ ! -w "$TOOLS" ]; then
  [ -d /tmp/tus-tools ] || cp -r "$TOOLS" /tmp/tus-tools
  TOOLS=/tmp/tus-tools
fi
cargo build --quiet --release --features cli --bin tusd --example loadgen
LOADGEN=./target/release/examples/loadgen
WORK=${BENCH_DIR:-$(mktemp -d -p "$PWD/target" bench.XXXXXX)}
mkdir -p "$WORK"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
start_tusd() { # DIR -> sets TUSD_PID, TUSD_URL
  local port; port=$(free_port)
  RUST_LOG=warn ./target/release/tusd --host 127.0.0.1 --port "$port" --upload-dir "$1" >"$WORK/tusd-$port.log" 2>&1 &
  TUSD_PID=$!; PIDS+=("$TUSD_PID"); wait_port "$port"
  TUSD_URL="http://127.0.0.1:$port/files/"
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
# Start each measurement from the same page-cache state where the machine allows it.
settle() { sync; if [ -w /proc/sys/vm/drop_caches ]; then echo 3 >/proc/sys/vm/drop_caches; fi; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

mkdir -p "$WORK/tusd" "$WORK/node"
start_tusd "$WORK/tusd"
NODE_PORT=$(free_port)
eval "$("$TOOLS/peers/start-node-tus-server.sh" "$NODE_PORT" "$WORK/node" | grep -E '^(ENDPOINT|PID)=')"
PIDS+=("$PID")
NODE_URL=$ENDPOINT

GIB=$((1 << 30))
echo "== 1 GiB in one PATCH ($RUNS runs each, interleaved, after one unmeasured warm-up)"
# The first writes of a run fault in fresh page-cache memory; warm up so no
# contender pays for that alone.
$LOADGEN rawfile "$WORK/tusd" $GIB >/dev/null
$LOADGEN big "$TUSD_URL" $GIB >/dev/null && rm -f "$WORK/tusd"/*
: >"$WORK/raw"; : >"$WORK/big-tusd"; : >"$WORK/big-node"
for i in $(seq "$RUNS"); do
  settle
  $LOADGEN rawfile "$WORK/tusd" $GIB | tee -a "$WORK/raw.log" | field mib_per_s >>"$WORK/raw"
  settle
  $LOADGEN big "$TUSD_URL" $GIB | tee -a "$WORK/big.log" | field mib_per_s >>"$WORK/big-tusd"
  rm -f "$WORK/tusd"/*
  settle
  $LOADGEN big "$NODE_URL" $GIB | tee -a "$WORK/big.log" | field mib_per_s >>"$WORK/big-node"
  rm -rf "${WORK:?}/node"/*
  echo "run $i: raw $(tail -1 "$WORK/raw") tusd $(tail -1 "$WORK/big-tusd") node $(tail -1 "$WORK/big-node") MiB/s"
done
RAW=$(median <"$WORK/raw"); BIG=$(median <"$WORK/big-tusd"); BIGNODE=$(median <"$WORK/big-node")

echo "== 2,000 x 16 KiB at concurrency 16"
SMALL=$($LOADGEN small "$TUSD_URL" 2000 16 16384 | field uploads_per_s)
rm -f "$WORK/tusd"/*
SMALLNODE=$($LOADGEN small "$NODE_URL" 2000 16 16384 | field uploads_per_s)
rm -rf "${WORK:?}/node"/*
echo "tusd $SMALL uploads/s, tus-node-server $SMALLNODE uploads/s"
kill "$TUSD_PID"

echo "== 500 uploads trickling at 8 KiB/s for 20 s (fresh tusd)"
mkdir -p "$WORK/trickle"
start_tusd "$WORK/trickle"
ulimit -n 4096 2>/dev/null || true
$LOADGEN trickle "$TUSD_URL" 500 8192 20 | tee "$WORK/trickle.log"
PEAK_KB=$(awk '/VmHWM/ {print $2}' "/proc/$TUSD_PID/status")
kill "$TUSD_PID"
PEAK_MIB=$(awk -v k="$PEAK_KB" 'BEGIN {printf "%.1f", k / 1024}')

echo
echo "| measure | tusd | baseline | ratio | target |"
echo "| --- | --- | --- | --- | --- |"
echo "| 1 GiB single PATCH, MiB/s (median of $RUNS) | $BIG | raw file write $RAW | $(ratio "$BIG" "$RAW") | >= 0.9 |"
echo "| 1 GiB single PATCH, MiB/s (median of $RUNS) | $BIG | tus-node-server $BIGNODE | $(ratio "$BIG" "$BIGNODE") | >= 3 |"
echo "| 2,000 x 16 KiB, c=16, uploads/s | $SMALL | tus-node-server $SMALLNODE | $(ratio "$SMALL" "$SMALLNODE") | >= 5 |"
echo "| peak RSS, 500 trickling uploads, MiB | $PEAK_MIB | | | <= 32 |"
