#!/usr/bin/env bash
# Benchmarks of the tusd binary, each figure a ratio of medians over rounds
# interleaved in the same run:
#   1. one 1 GiB upload in a single PATCH over loopback into the file store,
#      for each data sync policy (--data-sync each-write, at-finish, never),
#      against the ceiling (bench/src/bin/ceiling.rs: a bare hyper server that
#      appends each body to one file), against the ceiling syncing each PATCH,
#      and against tus-node-server (pinned in interop/);
#   2. 2,000 uploads of 16 KiB at concurrency 16 (POST + PATCH + HEAD each),
#      for the default policy and for `never`, against the ceiling (syncing
#      and not) and against tus-node-server;
#   3. tusd's peak RSS while 500 uploads trickle in at once at 8 KiB/s.
# Usage: bench/bench.sh [ROUNDS]   (default 3)
# BENCH_DIR=/dev/shm/x puts the upload folders on tmpfs (default: under target/).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
bash interop/install.sh node >/dev/null
cargo build --quiet --release --features cli --bin tusd
cargo build --quiet --release -p tower-tus-bench
LOADGEN=./target/release/loadgen
WORK=${BENCH_DIR:-$(mktemp -d -p "$PWD/target" bench.XXXXXX)}
mkdir -p "$WORK"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
declare -A URL DIR
start_tusd() { # NAME POLICY
  local port; port=$(free_port); mkdir -p "$WORK/$1"
  RUST_LOG=warn ./target/release/tusd --host 127.0.0.1 --port "$port" --upload-dir "$WORK/$1" \
    --data-sync "$2" >"$WORK/$1.log" 2>&1 &
  PIDS+=("$!"); LAST_PID=$!; wait_port "$port"
  URL[$1]="http://127.0.0.1:$port/files/"; DIR[$1]="$WORK/$1"
}
start_ceiling() { # NAME [sync]
  local port; port=$(free_port); mkdir -p "$WORK/$1"
  ./target/release/ceiling "$port" "$WORK/$1" ${2:-} >"$WORK/$1.log" 2>&1 &
  PIDS+=("$!"); wait_port "$port"
  URL[$1]="http://127.0.0.1:$port/files/"; DIR[$1]="$WORK/$1"
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
# Start each measurement from the same page-cache state where the machine allows it.
settle() { sync; if [ -w /proc/sys/vm/drop_caches ]; then echo 3 >/proc/sys/vm/drop_caches; fi; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
wipe() { rm -rf "${DIR[$1]:?}"/*; }

start_ceiling ceiling
start_ceiling ceiling-sync sync
start_tusd each-write each-write
start_tusd at-finish at-finish
start_tusd never never
NODE_PORT=$(free_port); mkdir -p "$WORK/node"
node interop/tus-node-server.mjs "$NODE_PORT" "$WORK/node" >"$WORK/node.log" 2>&1 &
PIDS+=("$!"); wait_port "$NODE_PORT"
URL[node]="http://127.0.0.1:$NODE_PORT/files/"; DIR[node]="$WORK/node"

BIG=(ceiling ceiling-sync each-write at-finish never node)
GIB=$((1 << 30))
echo "== 1 GiB in one PATCH ($ROUNDS interleaved rounds, after one unmeasured warm-up)"
# The first writes fault in fresh page-cache memory; warm up so no contender
# pays for that alone.
$LOADGEN big "${URL[ceiling]}" $GIB >/dev/null; wipe ceiling
for i in $(seq "$ROUNDS"); do
  line="round $i:"
  for name in "${BIG[@]}"; do
    settle
    v=$($LOADGEN big "${URL[$name]}" $GIB | field mib_per_s)
    echo "$v" >>"$WORK/big-$name"; wipe "$name"
    line="$line $name $v"
  done
  echo "$line MiB/s"
done
declare -A B
for name in "${BIG[@]}"; do B[$name]=$(median <"$WORK/big-$name"); done

SMALL_SET=(ceiling ceiling-sync each-write never node)
echo "== 2,000 x 16 KiB at concurrency 16 ($ROUNDS interleaved rounds)"
for i in $(seq "$ROUNDS"); do
  line="round $i:"
  for name in "${SMALL_SET[@]}"; do
    settle
    v=$($LOADGEN small "${URL[$name]}" 2000 16 16384 | field uploads_per_s)
    # Not wiped: ext4 slows the creation of files for minutes after mass
    # deletions, which would penalize whoever comes next.
    echo "$v" >>"$WORK/small-$name"
    line="$line $name $v"
  done
  echo "$line uploads/s"
done
declare -A S
for name in "${SMALL_SET[@]}"; do S[$name]=$(median <"$WORK/small-$name"); done
for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
PIDS=()

echo "== 500 uploads trickling at 8 KiB/s for 20 s (fresh tusd, default policy)"
start_tusd trickle each-write
ulimit -n 4096 2>/dev/null || true
$LOADGEN trickle "${URL[trickle]}" 500 8192 20 | tee "$WORK/trickle.log"
PEAK_KB=$(awk '/VmHWM/ {print $2}' "/proc/$LAST_PID/status")
PEAK_MIB=$(awk -v k="$PEAK_KB" 'BEGIN {printf "%.1f", k / 1024}')

echo
echo "| measure | tusd | baseline | ratio | target |"
echo "| --- | --- | --- | --- | --- |"
echo "| 1 GiB PATCH, --data-sync never, MiB/s | ${B[never]} | ceiling ${B[ceiling]} | $(ratio "${B[never]}" "${B[ceiling]}") | >= 0.9 |"
for policy in each-write at-finish never; do
  echo "| 1 GiB PATCH, --data-sync $policy, MiB/s | ${B[$policy]} | ceiling with fdatasync ${B[ceiling-sync]} | $(ratio "${B[$policy]}" "${B[ceiling-sync]}") | |"
done
echo "| 1 GiB PATCH, --data-sync never (no sync, as tus-node-server), MiB/s | ${B[never]} | tus-node-server ${B[node]} | $(ratio "${B[never]}" "${B[node]}") | >= 3 |"
echo "| 1 GiB PATCH, default policy (fdatasync), MiB/s | ${B[each-write]} | tus-node-server ${B[node]} | $(ratio "${B[each-write]}" "${B[node]}") | |"
echo "| 2,000 x 16 KiB, c=16, --data-sync never, uploads/s | ${S[never]} | ceiling ${S[ceiling]} | $(ratio "${S[never]}" "${S[ceiling]}") | >= 0.8 |"
echo "| 2,000 x 16 KiB, c=16, default policy, uploads/s | ${S[each-write]} | ceiling with fdatasync ${S[ceiling-sync]} | $(ratio "${S[each-write]}" "${S[ceiling-sync]}") | |"
echo "| 2,000 x 16 KiB, c=16, default policy (fdatasync), uploads/s | ${S[each-write]} | tus-node-server ${S[node]} | $(ratio "${S[each-write]}" "${S[node]}") | |"
echo "| 2,000 x 16 KiB, c=16, --data-sync never (no sync, as tus-node-server), uploads/s | ${S[never]} | tus-node-server ${S[node]} | $(ratio "${S[never]}" "${S[node]}") | >= 5 |"
echo "| peak RSS, 500 trickling uploads, MiB | $PEAK_MIB | | | <= 24 |"
