"""tuspy against a tus server, one scenario per run.

Usage: interop/.venv/bin/python interop/tuspy-client.py SCENARIO ENDPOINT FILE
  chunked      2 MiB chunks
  stop-resume  1 MiB chunks, stopped after 4 MiB; a new uploader resumes by URL
  checksum     2 MiB chunks, each with Upload-Checksum (sha1)
  cut-resume   the whole file in one PATCH, which the network (a test's load
               balancer) cuts after TUS_CUT_AT bytes; a new uploader resumes
               by URL from exactly there
Every scenario downloads the upload with GET and compares it with FILE.
Prints "UPLOAD_URL <url>" and, on success, "OK <scenario>"; exits 1 on failure.
"""

import os
import sys

import requests
from tusclient import client

STOP_AT = 4 << 20


def offset_of(url):
    res = requests.head(url, headers={"Tus-Resumable": "1.0.0"})
    if res.status_code != 200:
        raise SystemExit(f"FAILED: HEAD answered {res.status_code}")
    return int(res.headers["Upload-Offset"])


def main():
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    scenario, endpoint, path = sys.argv[1:]
    with open(path, "rb") as f:
        data = f.read()
    tus = client.TusClient(endpoint)
    if scenario == "chunked":
        uploader = tus.uploader(path, chunk_size=2 << 20)
        uploader.upload()
    elif scenario == "stop-resume":
        first = tus.uploader(path, chunk_size=1 << 20)
        first.upload(stop_at=STOP_AT)
        kept = offset_of(first.url)
        if kept != STOP_AT:
            raise SystemExit(f"FAILED: the server has {kept} bytes, not {STOP_AT}")
        uploader = tus.uploader(path, chunk_size=1 << 20, url=first.url)
        if uploader.offset != STOP_AT:
            raise SystemExit(f"FAILED: resumed from {uploader.offset}, not {STOP_AT}")
        uploader.upload()
    elif scenario == "checksum":
        uploader = tus.uploader(path, chunk_size=2 << 20, upload_checksum=True)
        uploader.upload()
    elif scenario == "cut-resume":
        cut_at = int(os.environ["TUS_CUT_AT"])
        first = tus.uploader(path, chunk_size=len(data))
        try:
            first.upload()
        except Exception as cut:  # the cut surfaces as the client's own error
            print(f"cut: {cut!r}")
        else:
            raise SystemExit("FAILED: the cut PATCH succeeded")
        kept = offset_of(first.url)
        if kept != cut_at:
            raise SystemExit(f"FAILED: the server has {kept} bytes, not {cut_at}")
        uploader = tus.uploader(path, chunk_size=1 << 20, url=first.url)
        if uploader.offset != cut_at:
            raise SystemExit(f"FAILED: resumed from {uploader.offset}, not {cut_at}")
        uploader.upload()
    else:
        raise SystemExit(f"unknown scenario {scenario}")
    print(f"UPLOAD_URL {uploader.url}", flush=True)
    if offset_of(uploader.url) != len(data):
        raise SystemExit("FAILED: HEAD after the upload does not tell the whole length")
    got = requests.get(uploader.url)
    if got.status_code != 200 or got.content != data:
        raise SystemExit(f"FAILED: GET answered {got.status_code} with bytes that differ")
    print(f"OK {scenario}")


if __name__ == "__main__":
    main()
