#!/usr/bin/env node
// tus-node-server (@tus/server with @tus/file-store, or @tus/s3-store), the
// benchmark's peer.
// Usage: node interop/tus-node-server.mjs PORT DIR
//        node interop/tus-node-server.mjs PORT s3://BUCKET   (endpoint from
//        AWS_ENDPOINT_URL, credentials from the AWS environment; part size
//        from TUS_S3_PART_SIZE, default 5 MiB)
// Serves http://127.0.0.1:PORT/files/ and prints "listening on <url>" once ready.
import { Server } from '@tus/server';
import { FileStore } from '@tus/file-store';
import { S3Store } from '@tus/s3-store';
import fs from 'node:fs';
import http from 'node:http';

const [port, dir] = process.argv.slice(2);
if (!dir) {
  console.error('usage: tus-node-server.mjs PORT DIR|s3://BUCKET');
  process.exit(2);
}
let datastore;
if (dir.startsWith('s3://')) {
  datastore = new S3Store({
    partSize: Number(process.env.TUS_S3_PART_SIZE || 5 * 1024 * 1024),
    s3ClientConfig: {
      bucket: dir.slice('s3://'.length),
      endpoint: process.env.AWS_ENDPOINT_URL,
      region: process.env.AWS_REGION || 'us-east-1',
      forcePathStyle: true,
      credentials: {
        accessKeyId: process.env.AWS_ACCESS_KEY_ID,
        secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY,
      },
    },
  });
} else {
  fs.mkdirSync(dir, { recursive: true });
  datastore = new FileStore({ directory: dir });
}
const tus = new Server({ path: '/files', datastore });
// A client closing a download early can make @tus/server throw outside any
// request; the benchmark must not lose its peer to that.
process.on('uncaughtException', (err) => {
  if (err && err.code === 'ERR_STREAM_PREMATURE_CLOSE') return;
  throw err;
});
http.createServer((req, res) => tus.handle(req, res)).listen(Number(port), '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${port}/files/`);
});
