#!/usr/bin/env node
// Usage: node serve.mjs <model-dir>... [--port 8080]
//
// Serves this page (with onnxruntime-web from node_modules) at / and the model directories at /models/0/,
// /models/1/, ..., cross-origin isolated so that onnxruntime-web may use threads (SharedArrayBuffer).
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const PAGE_ROOT = path.dirname(fileURLToPath(import.meta.url));
const TYPES = {
  '.html': 'text/html; charset=utf-8', '.mjs': 'text/javascript', '.js': 'text/javascript', '.wasm': 'application/wasm',
  '.json': 'application/json', '.txt': 'text/plain; charset=utf-8',
};

/** Starts the server on `port` (0: any free one) and resolves to its base URL once it listens. */
export function serve(modelDirs, port = 0) {
  const server = http.createServer((request, response) => {
    const urlPath = decodeURIComponent(new URL(request.url, 'http://localhost').pathname);
    const model = /^\/models\/(\d+)\/(.*)$/.exec(urlPath);
    const [root, relative] = model
      ? [modelDirs[Number(model[1])] && path.resolve(modelDirs[Number(model[1])]), model[2]]
      : [PAGE_ROOT, urlPath === '/' ? 'index.html' : urlPath.slice(1)];
    const file = root && path.resolve(root, relative);
    if (!file || !file.startsWith(root + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, {
      'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream',
      'Content-Length': fs.statSync(file).size,
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
    });
    fs.createReadStream(file).pipe(response);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${server.address().port}/` }));
  });
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { port: { type: 'string', default: '8080' } } });
  if (positionals.length === 0) {
    console.error('error: expected <model-dir>...');
    process.exit(2);
  }
  const { url } = await serve(positionals, Number(values.port));
  console.log(`open ${url} (models at ${positionals.map((_, i) => `models/${i}/`).join(', ')})`);
}
