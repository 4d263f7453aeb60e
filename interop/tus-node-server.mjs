#!/usr/bin/env node
// tus-node-server (@tus/server with @tus/file-store), the benchmark's peer.
// Usage: node interop/tus-node-server.mjs PORT DIR
// Serves http://127.0.0.1:PORT/files/ and prints "listening on <url>" once ready.
import { Server } from '@tus/server';
import { FileStore } from '@tus/file-store';
import fs from 'node:fs';
import http from 'node:http';

const [port, dir] = process.argv.slice(2);
if (!dir) {
  console.error('usage: tus-node-server.mjs PORT DIR');
  process.exit(2);
}
fs.mkdirSync(dir, { recursive: true });
const tus = new Server({ path: '/files', datastore: new FileStore({ directory: dir }) });
// A client closing a download early can make @tus/server throw outside any
// request; the benchmark must not lose its peer to that.
process.on('uncaughtException', (err) => {
  if (err && err.code === 'ERR_STREAM_PREMATURE_CLOSE') return;
  throw err;
});
http.createServer((req, res) => tus.handle(req, res)).listen(Number(port), '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${port}/files/`);
});
