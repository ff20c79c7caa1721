// The page: loads the export at ?model= (default models/0/), encodes ?prompt=, and streams ?max= greedily generated
// tokens into #output on ?ep= (wasm or webgpu). ?run=1 starts at once; the outcome lands in window.rwkvResult.
import { loadModel, argmax } from './rwkv-web.mjs';
import { loadTokenizer } from './tokenizers.mjs';

const form = document.querySelector('form');
const output = document.querySelector('#output');
const status = document.querySelector('#status');
const params = new URLSearchParams(location.search);
for (const name of ['model', 'prompt', 'max', 'ep']) {
  if (params.has(name)) form.elements[name].value = params.get(name);
}
form.addEventListener('submit', (event) => {
  event.preventDefault();
  run();
});
if (params.get('run') === '1') run();

async function run() {
  const ep = form.elements.ep.value;
  const maxTokens = Number(form.elements.max.value);
  output.textContent = '';
  window.rwkvResult = undefined;
  try {
    // The WebGPU build also holds the WebAssembly backend; the plain one is smaller.
    const ort = await import(ep === 'webgpu'
      ? './node_modules/onnxruntime-web/dist/ort.webgpu.min.mjs'
      : './node_modules/onnxruntime-web/dist/ort.wasm.min.mjs');
    if (params.has('threads')) ort.env.wasm.numThreads = Number(params.get('threads'));
    const baseUrl = new URL(form.elements.model.value, location.href);
    status.textContent = 'loading…';
    const model = await loadModel(ort, baseUrl, ep);
    const tokenizer = await loadTokenizer(model.manifest, baseUrl);
    const promptIds = tokenizer.encode(form.elements.prompt.value);

    status.textContent = 'generating…';
    const decoder = new TextDecoder(); // holds a character's first bytes until its last token arrives
    const state = model.initialState();
    const prefillStart = performance.now();
    let logits = await model.prefill(promptIds, state);
    const decodeStart = performance.now();
    const ids = [];
    while (ids.length < maxTokens) {
      const id = argmax(logits);
      ids.push(id);
      output.textContent += decoder.decode(tokenizer.tokenBytes(id), { stream: true });
      if (ids.length < maxTokens) logits = await model.step(id, state);
    }
    output.textContent += decoder.decode();
    const decodeSeconds = (performance.now() - decodeStart) / 1000;
    status.textContent = `${ids.length} tokens, ${((ids.length - 1) / decodeSeconds).toFixed(1)} tok/s`;
    window.rwkvResult = {
      status: 'done', ep, promptIds, ids, text: output.textContent,
      prefillSeconds: (decodeStart - prefillStart) / 1000,
      // The first id comes from the prefill's logits: decoding is the maxTokens - 1 step runs after it.
      decodeTokensPerSecond: (ids.length - 1) / decodeSeconds,
    };
  } catch (error) {
    status.textContent = `error: ${error.message ?? error}`;
    window.rwkvResult = { status: 'error', ep, error: String(error.message ?? error) };
  }
}
