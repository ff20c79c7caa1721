#!/usr/bin/env node
// Usage: node logits.mjs <model-dir> <id,id,...> [--prefill N] [--out logits.bin] [--threads N]
//
// Feeds the token ids from the initial state: the first N through prefill.onnx in one run (default: all but the
// last), the rest one at a time through step.onnx, and prints the logits after every token, as JSON
// ({ vocab, logits: [[...], ...] }) or, with --out, as raw little-endian float32 [tokens, vocab] to a file.
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { loadModel } from './rwkv.mjs';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { prefill: { type: 'string' }, out: { type: 'string' }, threads: { type: 'string', default: '0' } },
});
if (positionals.length !== 2) {
  fail('expected <model-dir> <id,id,...>');
}
const [dir, idList] = positionals;
const ids = idList.split(',').map((text) => {
  const id = Number(text);
  if (!Number.isInteger(id) || id < 0) fail(`token id '${text}' is not a non-negative integer`);
  return id;
});
const prefillCount = values.prefill === undefined ? ids.length - 1 : Number(values.prefill);
if (!Number.isInteger(prefillCount) || prefillCount < 0 || prefillCount > ids.length) {
  fail(`--prefill ${values.prefill}: expected an integer from 0 to ${ids.length}`);
}

const model = await loadModel(dir, { threads: Number(values.threads) });
for (const id of ids) {
  if (id >= model.vocab) fail(`token id ${id} is outside the vocabulary of ${model.vocab}`);
}
const state = model.initialState();
const rows = [];
if (prefillCount > 0) {
  // num_logits = every prefill position, so the prompt's logits can be checked position by position.
  const all = await model.prefill(ids.slice(0, prefillCount), state, prefillCount);
  for (let t = 0; t < prefillCount; t++) rows.push(all.subarray(t * model.vocab, (t + 1) * model.vocab));
}
for (const id of ids.slice(prefillCount)) {
  rows.push(await model.step(id, state));
}

if (values.out) {
  const flat = new Float32Array(rows.length * model.vocab);
  rows.forEach((row, t) => flat.set(row, t * model.vocab));
  fs.writeFileSync(values.out, new Uint8Array(flat.buffer)); // typed arrays are little-endian on every Node platform
} else {
  console.log(JSON.stringify({ vocab: model.vocab, logits: rows.map((row) => Array.from(row)) }));
}

function fail(message) {
  console.error(`error: ${message}`);
  process.exit(2);
}
