// Drives an rwkv-onnx model directory with onnxruntime-node, knowing nothing but its rwkv-manifest.json:
// graph files, state tensor names, shapes and initial values all come from the manifest, so the same code runs
// every RWKV version and weight dtype.
import fs from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';

/** Reads the manifest of `dir` and creates its prefill and step sessions with the options every client must use. */
export async function loadModel(dir, { threads = 0 } = {}) {
  const manifestPath = path.join(dir, 'rwkv-manifest.json');
  const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
  if (manifest.format_version !== 2) {
    throw new Error(`${manifestPath} has format_version ${manifest.format_version}; this example reads 2`);
  }
  // session_config holds the session config entries (dotted keys) every session of these graphs must get.
  const options = { graphOptimizationLevel: 'all', intraOpNumThreads: threads, extra: manifest.session_config };
  const prefill = await ort.InferenceSession.create(path.join(dir, manifest.prefill_graph.file), options);
  const step = await ort.InferenceSession.create(path.join(dir, manifest.step_graph.file), options);
  return new RwkvModel(manifest, prefill, step);
}

export class RwkvModel {
  constructor(manifest, prefill, step) {
    this.manifest = manifest;
    this.vocab = manifest.architecture.vocab;
    this.prefillSession = prefill;
    this.stepSession = step;
  }

  /** A fresh state for one sequence: every past_* input at its initial value, shape [1, ...shape]. */
  initialState() {
    const state = {};
    for (const s of this.manifest.state) {
      const size = s.shape.reduce((a, b) => a * b, 1);
      // `initial` is a number, or (a trained initial state) a nested array of the tensor's shape.
      const data = typeof s.initial === 'number'
        ? new Float32Array(size).fill(s.initial)
        : Float32Array.from(s.initial.flat(Infinity));
      if (data.length !== size) {
        throw new Error(`state ${s.input}: initial value has ${data.length} numbers, shape [${s.shape}] needs ${size}`);
      }
      state[s.input] = new ort.Tensor('float32', data, [1, ...s.shape]);
    }
    return state;
  }

  /**
   * Runs `ids` through prefill.onnx from `state` (replaced by the state after them) and returns the logits of the
   * last `numLogits` positions as one Float32Array of numLogits * vocab.
   */
  async prefill(ids, state, numLogits = 1) {
    const out = await this.prefillSession.run({
      tokens: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, ids.length]),
      num_logits: new ort.Tensor('int64', BigInt64Array.of(BigInt(numLogits)), []),
      ...state,
    });
    this.#advance(state, out);
    return out.logits_all.data;
  }

  /** Runs one token through step.onnx from `state` (replaced by the state after it) and returns its logits. */
  async step(id, state) {
    const out = await this.stepSession.run({ tokens: new ort.Tensor('int64', BigInt64Array.of(BigInt(id)), [1]), ...state });
    this.#advance(state, out);
    return out.logits.data;
  }

  // Each present_* output becomes the matching past_* input of the next run.
  #advance(state, out) {
    for (const s of this.manifest.state) {
      state[s.input] = out[s.output];
    }
  }
}

/** Index of the largest logit (the first one on ties), the greedy choice. */
export function argmax(logits) {
  let best = 0;
  for (let i = 1; i < logits.length; i++) {
    if (logits[i] > logits[best]) best = i;
  }
  return best;
}
