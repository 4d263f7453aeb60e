#!/usr/bin/env node
// tus-js-client (its Node build) against a tus server, one scenario per run.
//
// Usage: node interop/tus-js-client.mjs SCENARIO ENDPOINT FILE
//   whole        one PATCH for the whole file
//   cut-resume   1 MiB chunks; the body stalls 3,500,000 bytes in (mid-chunk)
//                and the request is aborted; HEAD must tell exactly that
//                offset; a new Upload resumes from the URL
//   with-upload  creation-with-upload, 3,000,000-byte chunks
//   parallel     parallelUploads: 3 (concatenation)
//   deferred     uploadLengthDeferred with 1,000,000-byte chunks
// Every scenario downloads the upload with GET and compares it with FILE.
// Prints "UPLOAD_URL <url>" and, on success, "OK <scenario>"; exits 1 on failure.
import * as tus from 'tus-js-client';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';

const [scenario, endpoint, file] = process.argv.slice(2);
if (!file) {
  console.error('usage: tus-js-client.mjs SCENARIO ENDPOINT FILE');
  process.exit(2);
}
const bytes = fs.readFileSync(file);
const CUT_AT = 3_500_000;

function fail(message) {
  throw new Error(`${scenario}: ${message}`);
}

// Runs one Upload to its end (or to `stop`, which returns a promise that
// resolves when the caller has aborted it). Resolves with the upload.
function run(input, options, stop) {
  return new Promise((resolve, reject) => {
    let stopped = false;
    const upload = new tus.Upload(input, {
      endpoint,
      metadata: { filename: path.basename(file), filetype: 'application/octet-stream' },
      retryDelays: null,
      ...options,
      onUploadUrlAvailable() {
        console.log(`UPLOAD_URL ${upload.url}`);
      },
      onError(err) {
        if (!stopped) reject(err);
      },
      onSuccess() {
        resolve(upload);
      },
    });
    if (stop) {
      stop(upload).then(() => {
        stopped = true;
        resolve(upload);
      }, reject);
    }
    upload.start();
  });
}

async function offsetOf(url) {
  const res = await fetch(url, { method: 'HEAD', headers: { 'Tus-Resumable': '1.0.0' } });
  if (res.status !== 200) fail(`HEAD answered ${res.status}`);
  return Number(res.headers.get('upload-offset'));
}

async function verify(url) {
  const res = await fetch(url);
  const got = Buffer.from(await res.arrayBuffer());
  if (res.status !== 200 || !got.equals(bytes)) {
    fail(`GET answered ${res.status} with ${got.length} bytes that differ from the file`);
  }
}

// A file reader whose slices deliver bytes up to `limit` of the file and
// then send nothing more: the PATCH in flight is left mid-body.
function stallingReader(limit, onStall) {
  const real = tus.defaultOptions.fileReader;
  return {
    async openFile(input, chunkSize) {
      const source = await real.openFile(input, chunkSize);
      return {
        get size() {
          return source.size;
        },
        async slice(start, end) {
          const slice = await source.slice(start, end);
          if (start + slice.value.size <= limit) return slice;
          const wanted = limit - start;
          let sent = 0;
          const stalling = new Readable({ read() {} });
          stalling.size = slice.value.size;
          slice.value.on('data', (chunk) => {
            const part = chunk.subarray(0, Math.max(0, wanted - sent));
            sent += part.length;
            if (part.length) stalling.push(part);
            if (sent >= wanted) {
              slice.value.destroy();
              onStall();
            }
          });
          return { value: stalling, done: slice.done };
        },
        close() {
          source.close();
        },
      };
    },
  };
}

async function main() {
  let upload;
  switch (scenario) {
    case 'whole':
      upload = await run(fs.createReadStream(file), { uploadSize: bytes.length });
      break;
    case 'cut-resume': {
      let stalled;
      const stall = new Promise((resolve) => {
        stalled = resolve;
      });
      const cut = await run(
        fs.createReadStream(file),
        {
          uploadSize: bytes.length,
          chunkSize: 1 << 20,
          fileReader: stallingReader(CUT_AT, () => stalled()),
        },
        async (u) => {
          await stall;
          // Let the bytes reach the server, then cut the connection.
          await new Promise((r) => setTimeout(r, 300));
          await u.abort(false);
        },
      );
      await new Promise((r) => setTimeout(r, 200));
      const kept = await offsetOf(cut.url);
      if (kept !== CUT_AT) fail(`the server kept ${kept} bytes of a PATCH cut at ${CUT_AT}`);
      let resumedFrom;
      upload = await run(fs.createReadStream(file), {
        uploadSize: bytes.length,
        chunkSize: 1 << 20,
        uploadUrl: cut.url,
        onAfterResponse(req, res) {
          if (req.getMethod() === 'HEAD') resumedFrom = Number(res.getHeader('Upload-Offset'));
        },
      });
      if (resumedFrom !== CUT_AT) fail(`resumed from ${resumedFrom}, not ${CUT_AT}`);
      if (upload.url !== cut.url) fail('resumed into another upload');
      break;
    }
    case 'with-upload':
      upload = await run(fs.createReadStream(file), {
        uploadSize: bytes.length,
        chunkSize: 3_000_000,
        uploadDataDuringCreation: true,
      });
      break;
    case 'parallel':
      upload = await run(fs.createReadStream(file), { parallelUploads: 3 });
      break;
    case 'deferred':
      // A plain stream: tus-js-client then learns the end from the stream.
      upload = await run(fs.createReadStream(file).pipe(new PassThrough()), {
        uploadLengthDeferred: true,
        chunkSize: 1_000_000,
      });
      break;
    default:
      console.error(`unknown scenario ${scenario}`);
      process.exit(2);
  }
  if (scenario !== 'parallel' && (await offsetOf(upload.url)) !== bytes.length) {
    fail('HEAD after the upload does not tell the whole length');
  }
  await verify(upload.url);
  console.log(`UPLOAD_URL ${upload.url}`);
  console.log(`OK ${scenario} sha256=${crypto.createHash('sha256').update(bytes).digest('hex')}`);
}

// tus-js-client waiting on something that never comes would let Node exit 0.
process.on('beforeExit', () => {
  console.error(`FAILED ${scenario}: tus-js-client stalled`);
  process.exit(1);
});
main().then(
  () => process.exit(0),
  (err) => {
    console.error(`FAILED ${scenario}: ${err && err.stack ? err.stack : err}`);
    process.exit(1);
  },
);
