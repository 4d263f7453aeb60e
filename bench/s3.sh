#!/usr/bin/env bash
# The S3 benchmark: tusd -s3-bucket into SeaweedFS (started here, on
# 127.0.0.1), each figure a ratio of medians over rounds interleaved in
# the same run:
#   1. one 1 GiB upload in a single PATCH, against the same bytes sent
#      straight to SeaweedFS as one multipart upload with tusd's part size
#      and concurrency (bench/src/bin/s3direct.rs), and against
#      tus-node-server with @tus/s3-store (pinned in interop/) on the same
#      SeaweedFS with the same part size; tusd also with
#      --s3-disable-content-hashes (no SHA-256 of each part for its
#      signature, which SeaweedFS then does not check either); with the
#      CPU seconds each server and SeaweedFS spend per GiB, and the ceiling
#      they set: the rate at which SeaweedFS alone would fill every core,
#      against tus-node-server's rate (a server costing nothing could not
#      beat that ratio on this machine);
#   2. 2,000 uploads of 16 KiB at concurrency 16, against tus-node-server;
#   3. tusd's peak RSS while 50 uploads of 64 MiB go in at once: the part
#      buffers' share (the peak with the budget less the peak of a tusd
#      with no budget, every part spilled to files) against the budget,
#      and the whole peak (medians over the rounds, each round a pair).
# Usage: bench/s3.sh [ROUNDS]   (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
PART=$((5 << 20))
CONCURRENCY=10
BUDGET=$((128 << 20))
bash interop/install.sh node python >/dev/null
cargo build --quiet --release --features cli,s3 --bin tusd
cargo build --quiet --release -p tower-tus-bench
LOADGEN=./target/release/loadgen
DIRECT=./target/release/s3direct
WORK=$(mktemp -d -p "$PWD/target" bench-s3.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$WORK/weed/weed.pid" ] && kill "$(cat "$WORK/weed/weed.pid")" 2>/dev/null || true
  sleep 0.5
  rm -rf "$WORK"
}
trap cleanup EXIT

export AWS_ACCESS_KEY_ID=tus-bench-key AWS_SECRET_ACCESS_KEY=tus-bench-secret AWS_REGION=us-east-1
S3=$(bash interop/seaweedfs.sh "$WORK/weed")
WEED=$(cat "$WORK/weed/weed.pid")
export AWS_ENDPOINT_URL=$S3
for b in direct tusd node; do $DIRECT bucket "$S3" "bench-$b"; done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() { for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
declare -A URL SERVER
TICKS=$(getconf CLK_TCK)
cpu_of() { # PID: its CPU seconds so far
  [ -n "$1" ] || { echo 0; return; }
  awk -v t="$TICKS" '{printf "%.2f", ($14 + $15) / t}' "/proc/$1/stat"
}
start_tusd() { # NAME [BUDGET [FLAGS...]]
  local port name=$1 budget=${2:-$BUDGET}; port=$(free_port)
  shift; shift || true
  RUST_LOG=warn ./target/release/tusd --host 127.0.0.1 --port "$port" \
    --s3-bucket bench-tusd --s3-endpoint "$S3" --s3-path-style \
    --s3-part-size "$PART" --s3-concurrent-part-uploads "$CONCURRENCY" \
    --s3-memory-budget "$budget" "$@" >"$WORK/$name.log" 2>&1 &
  PIDS+=("$!"); LAST_PID=$!; wait_port "$port"
  URL[$name]="http://127.0.0.1:$port/files/"
  SERVER[$name]=$LAST_PID
}
start_tusd tusd
start_tusd unsigned "$BUDGET" --s3-disable-content-hashes
NODE_PORT=$(free_port)
TUS_S3_PART_SIZE=$PART node interop/tus-node-server.mjs "$NODE_PORT" s3://bench-node >"$WORK/node.log" 2>&1 &
PIDS+=("$!"); SERVER[node]=$!; wait_port "$NODE_PORT"
URL[node]="http://127.0.0.1:$NODE_PORT/files/"

GIB=$((1 << 30))
big() { # NAME
  case $1 in
    direct) $DIRECT multipart "$S3" bench-direct $GIB $PART $CONCURRENCY | field mib_per_s ;;
    *) $LOADGEN big "${URL[$1]}" $GIB | field mib_per_s ;;
  esac
}
echo "== 1 GiB in one PATCH into SeaweedFS ($ROUNDS interleaved rounds, after one unmeasured warm-up)"
big direct >/dev/null
for i in $(seq "$ROUNDS"); do
  line="round $i:"
  for name in direct tusd unsigned node; do
    weed0=$(cpu_of "$WEED"); server0=$(cpu_of "${SERVER[$name]:-}")
    v=$(big $name)
    echo "$v" >>"$WORK/big-$name"
    awk -v a="$(cpu_of "$WEED")" -v b="$weed0" 'BEGIN {print a - b}' >>"$WORK/weed-cpu"
    awk -v a="$(cpu_of "${SERVER[$name]:-}")" -v b="$server0" 'BEGIN {print a - b}' >>"$WORK/cpu-$name"
    line="$line $name $v"
  done
  echo "$line MiB/s"
done
declare -A B
declare -A CPU
for name in direct tusd unsigned node; do
  B[$name]=$(median <"$WORK/big-$name")
  CPU[$name]=$(median <"$WORK/cpu-$name")
done
WEED_CPU=$(median <"$WORK/weed-cpu")
CORES=$(nproc)
CEILING=$(awk -v c="$WEED_CPU" -v n="$CORES" 'BEGIN {printf "%.1f", 1024 / (c / n)}')

echo "== 2,000 x 16 KiB at concurrency 16 ($ROUNDS interleaved rounds)"
for i in $(seq "$ROUNDS"); do
  line="round $i:"
  for name in tusd node; do
    v=$($LOADGEN small "${URL[$name]}" 2000 16 16384 | field uploads_per_s)
    echo "$v" >>"$WORK/small-$name"
    line="$line $name $v"
  done
  echo "$line uploads/s"
done
declare -A S
for name in tusd node; do S[$name]=$(median <"$WORK/small-$name"); done

echo "== 50 uploads of 64 MiB at once ($ROUNDS rounds, a fresh tusd each: budget $((BUDGET >> 20)) MiB, then none)"
peak_of() { # BUDGET
  start_tusd rss "$1"
  $LOADGEN many "${URL[rss]}" 50 $((64 << 20)) >&2
  awk '/VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$LAST_PID/status"
  kill "$LAST_PID"
}
for i in $(seq "$ROUNDS"); do
  peak=$(peak_of "$BUDGET"); spilled=$(peak_of 0)
  echo "$peak" >>"$WORK/rss-peak"; echo "$spilled" >>"$WORK/rss-spilled"
  awk -v a="$peak" -v b="$spilled" 'BEGIN {printf "%.1f\n", a - b}' >>"$WORK/rss-parts"
  echo "round $i: peak $peak MiB, with no budget $spilled MiB"
done
PEAK_MIB=$(median <"$WORK/rss-peak")
SPILLED_MIB=$(median <"$WORK/rss-spilled")
PARTS_MIB=$(median <"$WORK/rss-parts")

echo
echo "| measure | tusd | baseline | ratio | target |"
echo "| --- | --- | --- | --- | --- |"
echo "| 1 GiB PATCH into SeaweedFS, MiB/s | ${B[tusd]} | direct multipart, same part size and concurrency, ${B[direct]} | $(ratio "${B[tusd]}" "${B[direct]}") | >= 0.8 |"
echo "| 1 GiB PATCH into SeaweedFS, MiB/s | ${B[tusd]} | tus-node-server + @tus/s3-store ${B[node]} | $(ratio "${B[tusd]}" "${B[node]}") | >= 2 |"
echo "| 1 GiB PATCH, --s3-disable-content-hashes, MiB/s | ${B[unsigned]} | direct multipart (signed) ${B[direct]} | $(ratio "${B[unsigned]}" "${B[direct]}") | |"
echo "| 1 GiB PATCH, --s3-disable-content-hashes, MiB/s | ${B[unsigned]} | tus-node-server + @tus/s3-store ${B[node]} | $(ratio "${B[unsigned]}" "${B[node]}") | >= 2 |"
echo "| server CPU per GiB PATCHed, s | ${CPU[tusd]} (--s3-disable-content-hashes ${CPU[unsigned]}) | tus-node-server ${CPU[node]} | $(ratio "${CPU[node]}" "${CPU[tusd]}") less | |"
echo "| SeaweedFS CPU per GiB stored, s (all runs) | $WEED_CPU | | | |"
echo "| ceiling: SeaweedFS alone filling $CORES cores, MiB/s | $CEILING | tus-node-server ${B[node]} | $(ratio "$CEILING" "${B[node]}") | no server beats this ratio here |"
echo "| 2,000 x 16 KiB, c=16, uploads/s | ${S[tusd]} | tus-node-server + @tus/s3-store ${S[node]} | $(ratio "${S[tusd]}" "${S[node]}") | >= 2 |"
echo "| part buffers' share of peak RSS, 50 x 64 MiB at once, MiB | $PARTS_MIB | memory budget $((BUDGET >> 20)) | $(ratio "$PARTS_MIB" "$((BUDGET >> 20))") | <= 1 |"
echo "| peak RSS, 50 x 64 MiB at once, MiB | $PEAK_MIB | with no budget (all parts spilled) $SPILLED_MIB | | |"
