using Rwkv.Onnx.Export.Checkpoints;
using static Rwkv.Onnx.Tests.Parity.ReferenceMath;

namespace Rwkv.Onnx.Tests.Parity;

/// <summary>
/// RWKV-5 inference written out plainly, for the three published variants (ChatRWKV's names; rwkv.cpp
/// calls 5.0 "5.1"): the specification the exported graphs are tested against. One sequence, one token
/// per <see cref="Forward"/>. Elementwise math is float32; dot products and normalisation statistics
/// accumulate in double. Weights are the canonical BlinkDL tensors of an <see cref="RwkvCheckpoint"/>
/// (linear weights in PyTorch <c>[out, in]</c> order, so y = W x).
/// </summary>
/// <remarks>
/// <para>
/// Per token: x = LN0(emb[token]); per block x += TimeMix(LN1(x)); x += ChannelMix(LN2(x));
/// logits = head · LN_out(x). The state of each layer is <see cref="ReferenceLayerState"/>; it starts at zero.
/// </para>
/// <para>
/// Variants, read off the tensors of block 0:
/// 5.0 — no <c>att.gate.weight</c>, <c>time_decay</c> [H]; 5.1 — gate, <c>time_decay</c> [H];
/// 5.2 — gate, <c>time_decay</c> [H, N]. Decay w = exp(−exp(time_decay)); bonus u = <c>time_faaaa</c> when the
/// checkpoint has it, else exp(<c>time_first</c>). Per-head values apply to every channel of the head.
/// </para>
/// </remarks>
internal sealed class ReferenceRwkv5
{
    private const float LayerNormEpsilon = 1e-5f;

    private readonly float _groupNormEpsilon;
    private readonly float[] _embedding; // [V, C]
    private readonly float[] _ln0Weight, _ln0Bias;
    private readonly Layer[] _layers;
    private readonly float[] _lnOutWeight, _lnOutBias;
    private readonly float[] _head; // [V, C]
    private readonly ReferenceLayerState[] _state;

    private ReferenceRwkv5(RwkvCheckpoint checkpoint, float groupNormEpsilon)
    {
        _groupNormEpsilon = groupNormEpsilon;
        CheckpointTensor embedding = checkpoint.Get("emb.weight");
        if (embedding.Shape.Count != 2)
        {
            throw new CheckpointFormatException(checkpoint.Path, embedding.Name,
                $"Tensor 'emb.weight' has shape {embedding.ShapeText}; expected [vocab, n_embed].");
        }
        VocabSize = (int)embedding.Shape[0];
        EmbeddingSize = (int)embedding.Shape[1];
        CheckpointTensor decay = checkpoint.Get("blocks.0.att.time_decay");
        HeadCount = (int)decay.Shape[0];
        if (decay.Shape.Count is not (1 or 2) || HeadCount == 0 || EmbeddingSize % HeadCount != 0)
        {
            throw new CheckpointFormatException(checkpoint.Path, decay.Name,
                $"Tensor 'blocks.0.att.time_decay' has shape {decay.ShapeText}; expected [heads] or [heads, head_size] with heads dividing {EmbeddingSize}.");
        }
        HeadSize = EmbeddingSize / HeadCount;
        Gated = checkpoint.Find("blocks.0.att.gate.weight") is not null;
        PerChannel = decay.Shape.Count == 2;
        Version = PerChannel ? "5.2" : Gated ? "5.1" : "5.0";
        FfnSize = (int)checkpoint.Get("blocks.0.ffn.key.weight").Shape[0];
        int layerCount = 0;
        while (checkpoint.Find($"blocks.{layerCount}.ln1.weight") is not null)
        {
            layerCount++;
        }

        var weights = new ReferenceWeights(checkpoint);
        int c = EmbeddingSize;
        _embedding = weights.Read("emb.weight", VocabSize, c);
        _ln0Weight = weights.Read("blocks.0.ln0.weight", c);
        _ln0Bias = weights.Read("blocks.0.ln0.bias", c);
        _layers = new Layer[layerCount];
        _state = new ReferenceLayerState[layerCount];
        for (int i = 0; i < layerCount; i++)
        {
            _layers[i] = new Layer(weights, i, this);
            _state[i] = new ReferenceLayerState(c, HeadCount, HeadSize);
        }
        _lnOutWeight = weights.Read("ln_out.weight", c);
        _lnOutBias = weights.Read("ln_out.bias", c);
        _head = weights.Read("head.weight", VocabSize, c);
    }

    /// <summary>The variant, <c>5.0</c>, <c>5.1</c> or <c>5.2</c>.</summary>
    public string Version { get; }

    /// <summary>True for 5.1 and 5.2: the attention output is multiplied by silu(Wg xg).</summary>
    public bool Gated { get; }

    /// <summary>True for 5.2: decay and bonus are per channel ([H, N]) instead of per head ([H]).</summary>
    public bool PerChannel { get; }

    /// <summary>Vocabulary size V.</summary>
    public int VocabSize { get; }

    /// <summary>Embedding width C = heads × head size.</summary>
    public int EmbeddingSize { get; }

    /// <summary>Number of heads H.</summary>
    public int HeadCount { get; }

    /// <summary>Head size N.</summary>
    public int HeadSize { get; }

    /// <summary>Channel-mix hidden width F.</summary>
    public int FfnSize { get; }

    /// <summary>Number of blocks.</summary>
    public int LayerCount => _layers.Length;

    /// <summary>
    /// The live recurrent state, one entry per layer. The arrays are the ones <see cref="Forward"/>
    /// updates: read them to compare states, write them to start from a given state. The wkv matrices are
    /// ChatRWKV's [head][key][value], the transpose of the exported state's [head][value][key].
    /// </summary>
    public IReadOnlyList<ReferenceLayerState> State => _state;

    /// <summary>Reads every weight of an RWKV-5 checkpoint; the state starts at zero.</summary>
    /// <param name="checkpoint">A 5.0, 5.1 or 5.2 checkpoint.</param>
    /// <param name="groupNormEpsilon">Epsilon of ln_x: 64e-5 as published, 1e-5 for the rwkv.cpp fixtures.</param>
    /// <exception cref="CheckpointFormatException">A tensor is missing or has an unexpected shape.</exception>
    public static ReferenceRwkv5 Load(RwkvCheckpoint checkpoint, float groupNormEpsilon)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(groupNormEpsilon);
        return new ReferenceRwkv5(checkpoint, groupNormEpsilon);
    }

    /// <summary>Feeds one token, advances the state and returns the logits (V floats).</summary>
    public float[] Forward(int token)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(token);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(token, VocabSize);
        int c = EmbeddingSize;

        float[] x = LayerNorm(_embedding.AsSpan(token * c, c), _ln0Weight, _ln0Bias, LayerNormEpsilon);
        for (int i = 0; i < _layers.Length; i++)
        {
            Layer layer = _layers[i];
            AddInPlace(x, TimeMix(layer, _state[i], LayerNorm(x, layer.Ln1Weight, layer.Ln1Bias, LayerNormEpsilon)));
            AddInPlace(x, ChannelMix(layer, _state[i], LayerNorm(x, layer.Ln2Weight, layer.Ln2Bias, LayerNormEpsilon)));
        }
        return Linear(_head, LayerNorm(x, _lnOutWeight, _lnOutBias, LayerNormEpsilon));
    }

    /// <summary>Attention (time mix) of one layer for one token.</summary>
    private float[] TimeMix(Layer p, ReferenceLayerState state, float[] x)
    {
        int n = HeadSize;

        // Token shift: the mixed input is x·μ + prev·(1 − μ); the state keeps this token's x.
        float[] prev = (float[])state.AttShift.Clone();
        x.CopyTo(state.AttShift);
        float[] r = Linear(p.Receptance, Mix(x, prev, p.MixR));
        float[] k = Linear(p.Key, Mix(x, prev, p.MixK));
        float[] v = Linear(p.Value, Mix(x, prev, p.MixV));

        // WKV per head h, with state S[j][i] (j = key index, i = value index) and a[j][i] = k[j] v[i]:
        //   y[i]    = sum_j r[j] * (u[j] * a[j][i] + S[j][i])   (old S)
        //   S[j][i] = a[j][i] + w[j] * S[j][i]
        var y = new float[EmbeddingSize];
        for (int h = 0; h < HeadCount; h++)
        {
            int o = h * n; // first channel of head h
            Span<float> s = state.Wkv.AsSpan(h * n * n, n * n);
            var yh = new double[n];
            for (int j = 0; j < n; j++)
            {
                Span<float> row = s.Slice(j * n, n);
                float w = p.Decay[o + j], u = p.Bonus[o + j], kj = k[o + j], rj = r[o + j];
                for (int i = 0; i < n; i++)
                {
                    float a = kj * v[o + i];
                    yh[i] += (double)rj * (u * a + row[i]);
                    row[i] = a + w * row[i];
                }
            }
            for (int i = 0; i < n; i++)
            {
                y[o + i] = (float)yh[i];
            }
        }

        // ln_x: group norm with one group per head, then the affine over C.
        for (int h = 0; h < HeadCount; h++)
        {
            Normalize(y.AsSpan(h * n, n), _groupNormEpsilon);
        }
        for (int i = 0; i < y.Length; i++)
        {
            y[i] = y[i] * p.LnXWeight[i] + p.LnXBias[i];
        }
        if (p.Gate is not null)
        {
            float[] g = Linear(p.Gate, Mix(x, prev, p.MixG!)); // MixG exists whenever Gate does (Layer's constructor)
            for (int i = 0; i < y.Length; i++)
            {
                y[i] *= g[i] * Sigmoid(g[i]); // silu
            }
        }
        return Linear(p.Output, y);
    }

    /// <summary>Feed-forward (channel mix) of one layer for one token: σ(Wr xr) ⊙ Wv · relu(Wk · xk)².</summary>
    private static float[] ChannelMix(Layer p, ReferenceLayerState state, float[] x)
    {
        float[] prev = (float[])state.FfnShift.Clone();
        x.CopyTo(state.FfnShift);
        float[] r = Linear(p.FfnReceptance, Mix(x, prev, p.FfnMixR));
        float[] hidden = Linear(p.FfnKey, Mix(x, prev, p.FfnMixK));
        for (int i = 0; i < hidden.Length; i++)
        {
            float relu = Math.Max(hidden[i], 0f);
            hidden[i] = relu * relu;
        }
        float[] value = Linear(p.FfnValue, hidden);
        for (int i = 0; i < value.Length; i++)
        {
            value[i] *= Sigmoid(r[i]);
        }
        return value;
    }

    /// <summary>x·μ + prev·(1 − μ): the token-shift interpolation as BlinkDL writes it.</summary>
    private static float[] Mix(float[] x, float[] prev, float[] mix)
    {
        var y = new float[x.Length];
        for (int i = 0; i < y.Length; i++)
        {
            y[i] = x[i] * mix[i] + prev[i] * (1 - mix[i]);
        }
        return y;
    }

    /// <summary>Weights of one block, flattened row-major in PyTorch shape order; decay and bonus already per channel.</summary>
    private sealed class Layer
    {
        public Layer(ReferenceWeights weights, int index, ReferenceRwkv5 model)
        {
            int c = model.EmbeddingSize, f = model.FfnSize;
            string b = $"blocks.{index}.";
            Ln1Weight = weights.Read(b + "ln1.weight", c);
            Ln1Bias = weights.Read(b + "ln1.bias", c);
            Ln2Weight = weights.Read(b + "ln2.weight", c);
            Ln2Bias = weights.Read(b + "ln2.bias", c);

            string att = b + "att.";
            MixK = weights.Read(att + "time_mix_k", 1, 1, c);
            MixV = weights.Read(att + "time_mix_v", 1, 1, c);
            MixR = weights.Read(att + "time_mix_r", 1, 1, c);
            long[] perHead = model.PerChannel ? [model.HeadCount, model.HeadSize] : [model.HeadCount];
            Decay = PerChannel(weights.Read(att + "time_decay", perHead), c, d => (float)Math.Exp(-Math.Exp(d)));
            Bonus = weights.Has(att + "time_faaaa")
                ? PerChannel(weights.Read(att + "time_faaaa", perHead), c, u => u)
                : PerChannel(weights.Read(att + "time_first", perHead), c, u => (float)Math.Exp(u));
            Receptance = weights.Read(att + "receptance.weight", c, c);
            Key = weights.Read(att + "key.weight", c, c);
            Value = weights.Read(att + "value.weight", c, c);
            Output = weights.Read(att + "output.weight", c, c);
            if (model.Gated)
            {
                MixG = weights.Read(att + "time_mix_g", 1, 1, c);
                Gate = weights.Read(att + "gate.weight", c, c);
            }
            LnXWeight = weights.Read(att + "ln_x.weight", c);
            LnXBias = weights.Read(att + "ln_x.bias", c);

            string ffn = b + "ffn.";
            FfnMixK = weights.Read(ffn + "time_mix_k", 1, 1, c);
            FfnMixR = weights.Read(ffn + "time_mix_r", 1, 1, c);
            FfnKey = weights.Read(ffn + "key.weight", f, c);
            FfnValue = weights.Read(ffn + "value.weight", c, f);
            FfnReceptance = weights.Read(ffn + "receptance.weight", c, c);
        }

        public float[] Ln1Weight { get; }

        public float[] Ln1Bias { get; }

        public float[] Ln2Weight { get; }

        public float[] Ln2Bias { get; }

        public float[] MixK { get; }

        public float[] MixV { get; }

        public float[] MixR { get; }

        public float[]? MixG { get; } // 5.1, 5.2

        public float[] Decay { get; } // w = exp(-exp(time_decay)), [C]

        public float[] Bonus { get; } // u, [C]

        public float[] Receptance { get; } // [C, C]

        public float[] Key { get; }

        public float[] Value { get; }

        public float[] Output { get; }

        public float[]? Gate { get; } // 5.1, 5.2

        public float[] LnXWeight { get; }

        public float[] LnXBias { get; }

        public float[] FfnMixK { get; }

        public float[] FfnMixR { get; }

        public float[] FfnKey { get; } // [F, C]

        public float[] FfnValue { get; } // [C, F]

        public float[] FfnReceptance { get; } // [C, C]

        /// <summary>f of each per-head or per-channel value, as C values (a head's value repeated over its channels).</summary>
        private static float[] PerChannel(float[] values, int c, Func<float, float> f)
        {
            var result = new float[c];
            for (int i = 0; i < c; i++)
            {
                result[i] = f(values[i / (c / values.Length)]);
            }
            return result;
        }
    }

}
