#!/usr/bin/env bash
# Starts SeaweedFS (`weed mini`: master, volume server, filer and S3 gateway
# in one process) from interop/.venv on 127.0.0.1, every component on a
# free port, its data and log in DIR. The S3 gateway checks signatures
# against AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY from the environment.
# Volumes are not limited by the free disk space (each bucket takes
# several), so many buckets fit whatever the disk holds. Its Go heap is
# held to GOMEMLIMIT (default 4 GiB): fifty uploads of many parts at once
# otherwise grow it past the machine's memory.
# Prints the S3 endpoint; the server's pid goes to DIR/weed.pid.
# Usage: interop/seaweedfs.sh DIR
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
DIR=${1:?usage: seaweedfs.sh DIR}
mkdir -p "$DIR"
bash "$HERE/install.sh" python >&2
read -r s3 s3g mp mg vp vg fp fg ap ag < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(10)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
')
GOMEMLIMIT=${GOMEMLIMIT:-4GiB} "$HERE/.venv/bin/weed" -logtostderr=false mini -dir="$DIR" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
  -master.telemetry=false -admin.ui=false -webdav=false -volume.max=500 \
  -s3.port="$s3" -s3.port.grpc="$s3g" -s3.port.iceberg=0 -s3.port.lance=0 \
  -master.port="$mp" -master.port.grpc="$mg" -volume.port="$vp" -volume.port.grpc="$vg" \
  -filer.port="$fp" -filer.port.grpc="$fg" -admin.port="$ap" -admin.port.grpc="$ag" \
  -s3.localSocket="$DIR/s3.sock" -filer.localSocket="$DIR/filer.sock" \
  >"$DIR/weed.log" 2>&1 &
echo $! >"$DIR/weed.pid"
for _ in $(seq 300); do
  (exec 3<>"/dev/tcp/127.0.0.1/$s3") 2>/dev/null && break
  sleep 0.1
done
echo "http://127.0.0.1:$s3"
