#!/usr/bin/env node
// Usage: node browser-run.mjs <model-dir>... --prompt TEXT [--max 32] [--ep wasm|webgpu] [--chromium /usr/bin/chromium]
//
// Serves the page and the models, opens the page for each model in one headless Chromium (driven by playwright-core,
// with the system's browser: no browser download), generates greedily and prints each page's window.rwkvResult as
// one JSON line. Exit 0 when every page finished (a result may be an error, e.g. no WebGPU adapter); 1 when the
// browser could not run a page.
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { serve } from './serve.mjs';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    prompt: { type: 'string', default: '' },
    max: { type: 'string', default: '32' },
    ep: { type: 'string', default: 'wasm' },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
    threads: { type: 'string' },
    timeout: { type: 'string', default: '90' },
  },
});
if (positionals.length === 0 || !['wasm', 'webgpu'].includes(values.ep)) {
  console.error('error: expected <model-dir>... [--prompt TEXT] [--max N] [--ep wasm|webgpu]');
  process.exit(2);
}

// WebGPU in a headless browser without a GPU: SwiftShader's software Vulkan adapter.
const webgpuFlags = ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader',
  '--use-webgpu-adapter=swiftshader', '--use-angle=swiftshader', '--ignore-gpu-blocklist'];
const { server, url } = await serve(positionals);
let browser;
try {
  browser = await chromium.launch({
    executablePath: values.chromium,
    headless: true,
    // This machine's network is closed: no background connections, component updates or sync at start.
    args: ['--no-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-quic', ...(values.ep === 'webgpu' ? webgpuFlags : [])],
  });
  for (let i = 0; i < positionals.length; i++) {
    const page = await browser.newPage();
    page.on('console', (message) => console.error(`[page ${i}] ${message.text()}`));
    page.on('pageerror', (error) => console.error(`[page ${i} error] ${error.message}`));
    const query = new URLSearchParams({ model: `models/${i}/`, prompt: values.prompt, max: values.max, ep: values.ep, run: '1' });
    if (values.threads) query.set('threads', values.threads);
    await page.goto(`${url}?${query}`);
    await page.waitForFunction(() => window.rwkvResult !== undefined, null, { timeout: Number(values.timeout) * 1000 });
    const result = await page.evaluate(() => window.rwkvResult);
    console.log(JSON.stringify({ ...result, browser: browser.version() }));
    await page.close();
  }
} catch (error) {
  console.error(`error: ${error.message.split('\n')[0]}`);
  process.exitCode = 1;
} finally {
  await browser?.close();
  server.close();
}
