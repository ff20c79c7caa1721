#!/usr/bin/env node
// Usage: node generate.mjs <model-dir> <id,id,...> [--max 128] [--threads N]
//
// Greedy decoding (temperature 0) from prompt token ids: the prompt in one prefill.onnx run, then one step.onnx
// run per token. Prints the generated ids as JSON, and the prefill and decode speeds to stderr.
import { parseArgs } from 'node:util';
import { argmax, loadModel } from './rwkv.mjs';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { max: { type: 'string', default: '128' }, threads: { type: 'string', default: '0' } },
});
const maxTokens = Number(values.max);
if (positionals.length !== 2 || !Number.isInteger(maxTokens) || maxTokens < 1) {
  console.error('error: expected <model-dir> <id,id,...> [--max N ≥ 1]');
  process.exit(2);
}
const [dir, idList] = positionals;
const prompt = idList.split(',').map(Number);

const model = await loadModel(dir, { threads: Number(values.threads) });
if (!prompt.every((id) => Number.isInteger(id) && id >= 0 && id < model.vocab)) {
  console.error(`error: every prompt id must be an integer from 0 to ${model.vocab - 1}`);
  process.exit(2);
}
const state = model.initialState();
const prefillStart = performance.now();
let logits = await model.prefill(prompt, state);
const decodeStart = performance.now();
const ids = [argmax(logits)];
while (ids.length < maxTokens) {
  logits = await model.step(ids.at(-1), state);
  ids.push(argmax(logits));
}
const end = performance.now();
console.log(JSON.stringify(ids));
console.error(`prefill: ${prompt.length} tokens, ${(prompt.length / ((decodeStart - prefillStart) / 1000)).toFixed(1)} tok/s; ` +
  `decode: ${ids.length - 1} tokens, ${((ids.length - 1) / ((end - decodeStart) / 1000)).toFixed(1)} tok/s`);
