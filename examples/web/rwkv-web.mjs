// Drives an rwkv-onnx model directory with onnxruntime-web from its manifest alone, as examples/node does with
// onnxruntime-node: the graphs are fetched as bytes and the weights handed over as external data, since the
// browser build cannot open weights.onnx.data by itself ("Module.MountedFiles is not available").

/** Fetches the manifest, graphs and weights under `baseUrl` and creates the prefill and step sessions on `ep`. */
export async function loadModel(ort, baseUrl, ep) {
  const manifest = await (await fetchOk(new URL('rwkv-manifest.json', baseUrl))).json();
  if (manifest.format_version !== 2) {
    throw new Error(`rwkv-manifest.json has format_version ${manifest.format_version}; this page reads 2`);
  }
  const weights = new Uint8Array(await (await fetchOk(new URL(manifest.weights.file, baseUrl))).arrayBuffer());
  const options = {
    executionProviders: [ep],
    graphOptimizationLevel: 'all',
    externalData: [{ path: manifest.weights.file, data: weights }],
    extra: manifest.session_config,
  };
  const create = async (graph) =>
    ort.InferenceSession.create(new Uint8Array(await (await fetchOk(new URL(graph.file, baseUrl))).arrayBuffer()), options);
  return new RwkvModel(ort, manifest, await create(manifest.prefill_graph), await create(manifest.step_graph));
}

export class RwkvModel {
  constructor(ort, manifest, prefill, step) {
    this.ort = ort;
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
      const data = typeof s.initial === 'number'
        ? new Float32Array(size).fill(s.initial)
        : Float32Array.from(s.initial.flat(Infinity));
      state[s.input] = new this.ort.Tensor('float32', data, [1, ...s.shape]);
    }
    return state;
  }

  /** Runs `ids` through prefill.onnx from `state` (replaced by the state after them); returns the last logits. */
  async prefill(ids, state) {
    const out = await this.prefillSession.run({
      tokens: new this.ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, ids.length]),
      num_logits: new this.ort.Tensor('int64', BigInt64Array.of(1n), []),
      ...state,
    });
    this.#advance(state, out);
    return out.logits.data;
  }

  /** Runs one token through step.onnx from `state` (replaced by the state after it); returns its logits. */
  async step(id, state) {
    const out = await this.stepSession.run({ tokens: new this.ort.Tensor('int64', BigInt64Array.of(BigInt(id)), [1]), ...state });
    this.#advance(state, out);
    return out.logits.data;
  }

  #advance(state, out) {
    for (const s of this.manifest.state) {
      state[s.input] = out[s.output];
    }
  }
}

/** Index of the largest logit (the first one on ties): greedy decoding, temperature 0. */
export function argmax(logits) {
  let best = 0;
  for (let i = 1; i < logits.length; i++) {
    if (logits[i] > logits[best]) best = i;
  }
  return best;
}

async function fetchOk(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response;
}
