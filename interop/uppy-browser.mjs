#!/usr/bin/env node
// Uppy in headless Chromium: opens PAGE_URL (Uppy's Dashboard with its Tus
// plugin), adds FILES through the Dashboard's file input, starts the upload
// with the Dashboard's button on a throttled network, pauses everything and
// resumes, then cuts the network mid-upload and brings it back, and waits
// for Uppy's `complete` event.
//
// Usage: node interop/uppy-browser.mjs PAGE_URL FILE...
// Prints one line "RESULT <json>" with Uppy's successful and failed files;
// exits 1 on failure.
import { chromium } from 'playwright-core';

const [pageUrl, ...files] = process.argv.slice(2);
if (!files.length) {
  console.error('usage: uppy-browser.mjs PAGE_URL FILE...');
  process.exit(2);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Closed-network machines refuse Chromium's background connections.
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: [
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});
try {
  const page = await browser.newPage();
  page.on('pageerror', (err) => console.error(`page error: ${err}`));
  await page.goto(pageUrl);
  await page.waitForFunction(() => window.uppy !== undefined);

  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  const network = (conditions) =>
    cdp.send('Network.emulateNetworkConditions', {
      offline: false,
      latency: 0,
      downloadThroughput: -1,
      uploadThroughput: -1,
      ...conditions,
    });
  // Slow enough that pausing and cutting land mid-upload.
  await network({ uploadThroughput: 2 * 1024 * 1024 });

  await page.locator('input.uppy-Dashboard-input:not([webkitdirectory])').first().setInputFiles(files);
  await page.waitForFunction((n) => window.uppy.getFiles().length === n, files.length);
  await page.locator('.uppy-StatusBar-actionBtn--upload').click();

  const progress = () => page.evaluate(() => window.uppy.getState().totalProgress);
  const until = async (what, test, ms = 30000) => {
    const deadline = Date.now() + ms;
    while (!(await test())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(50);
    }
  };

  await until('20% progress', async () => (await progress()) >= 20);
  await page.evaluate(() => window.uppy.pauseAll());
  const paused = await progress();
  await sleep(700);
  const stillPaused = await progress();
  console.log(`paused at ${paused}%, still ${stillPaused}% after 700 ms`);
  // A chunk in flight may land; nothing more goes while paused.
  if (stillPaused - paused > 5) throw new Error(`uploads went on while paused: ${paused}% -> ${stillPaused}%`);
  await page.evaluate(() => window.uppy.resumeAll());

  await until('55% progress', async () => (await progress()) >= 55);
  await network({ offline: true });
  console.log(`cut at ${await progress()}%`);
  await sleep(1500);
  await network({ uploadThroughput: 2 * 1024 * 1024 });

  await page.waitForFunction(() => window.results !== undefined, null, { timeout: 60000 });
  const results = await page.evaluate(() => window.results);
  console.log(`RESULT ${JSON.stringify(results)}`);
  if (results.failed.length || results.successful.length !== files.length) process.exit(1);
} finally {
  await browser.close();
}
