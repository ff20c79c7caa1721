using Rwkv.Onnx.Export.Checkpoints;
using static Rwkv.Onnx.Tests.Parity.ReferenceMath;

namespace Rwkv.Onnx.Tests.Parity;

/// <summary>
/// RWKV-6 "Finch" inference written out plainly: the specification the exported graphs are tested
/// against (BlinkDL's <c>RWKV_Tmix_x060</c> / <c>RWKV_CMix_x060</c>, run one token at a time). One
/// sequence, one token per <see cref="Forward"/>. Elementwise math is float32; dot products and
/// normalisation statistics accumulate in double. Weights are the canonical BlinkDL tensors of an
/// <see cref="RwkvCheckpoint"/>: linear weights <c>[out, in]</c> (y = W x); LoRA matrices
/// <c>time_maa_w1</c> <c>[C, 5·Dm]</c>, <c>time_maa_w2</c> <c>[5, Dm, C]</c>, <c>time_decay_w1</c>
/// <c>[C, Dw]</c>, <c>time_decay_w2</c> <c>[Dw, C]</c> (y = (x · w1) · w2).
/// </summary>
/// <remarks>
/// Per token: x = LN0(emb[token]); per block x += TimeMix(LN1(x)); x += ChannelMix(LN2(x));
/// logits = head · LN_out(x). The state of each layer is <see cref="ReferenceLayerState"/>; it starts at zero.
/// </remarks>
internal sealed class ReferenceRwkv6
{
    private const float LayerNormEpsilon = 1e-5f;

    /// <summary>The five data-dependent token-shift slots, in the order of <c>time_maa_w1</c>'s columns and <c>time_maa_w2</c>'s first axis.</summary>
    private const int MixSlots = 5; // w, k, v, r, g

    private readonly float _groupNormEpsilon;
    private readonly float[] _embedding; // [V, C]
    private readonly float[] _ln0Weight, _ln0Bias;
    private readonly Layer[] _layers;
    private readonly float[] _lnOutWeight, _lnOutBias;
    private readonly float[] _head; // [V, C]
    private readonly ReferenceLayerState[] _state;

    private ReferenceRwkv6(RwkvCheckpoint checkpoint, float groupNormEpsilon)
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
        CheckpointTensor faaaa = checkpoint.Get("blocks.0.att.time_faaaa");
        if (faaaa.Shape.Count != 2 || faaaa.Shape[0] * faaaa.Shape[1] != EmbeddingSize)
        {
            throw new CheckpointFormatException(checkpoint.Path, faaaa.Name,
                $"Tensor 'blocks.0.att.time_faaaa' has shape {faaaa.ShapeText}; expected [heads, head_size] with heads * head_size = {EmbeddingSize}.");
        }
        HeadCount = (int)faaaa.Shape[0];
        HeadSize = (int)faaaa.Shape[1];
        FfnSize = (int)checkpoint.Get("blocks.0.ffn.key.weight").Shape[0];
        MixRank = (int)checkpoint.Get("blocks.0.att.time_maa_w1").Shape[^1] / MixSlots;
        DecayRank = (int)checkpoint.Get("blocks.0.att.time_decay_w1").Shape[^1];
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
            _layers[i] = new Layer(weights, i, c, HeadCount, HeadSize, FfnSize, MixRank, DecayRank);
            _state[i] = new ReferenceLayerState(c, HeadCount, HeadSize);
        }
        _lnOutWeight = weights.Read("ln_out.weight", c);
        _lnOutBias = weights.Read("ln_out.bias", c);
        _head = weights.Read("head.weight", VocabSize, c);
    }

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

    /// <summary>Rank Dm of each of the five token-shift LoRAs (<c>time_maa_w1</c> has 5·Dm columns).</summary>
    public int MixRank { get; }

    /// <summary>Rank Dw of the decay LoRA.</summary>
    public int DecayRank { get; }

    /// <summary>Number of blocks.</summary>
    public int LayerCount => _layers.Length;

    /// <summary>
    /// The live recurrent state, one entry per layer. The arrays are the ones <see cref="Forward"/>
    /// updates: read them to compare states, write them to start from a given state.
    /// </summary>
    public IReadOnlyList<ReferenceLayerState> State => _state;

    /// <summary>Reads every weight of an RWKV-6 checkpoint; the state starts at zero.</summary>
    /// <param name="checkpoint">Canonical tensors of an RWKV-6 model.</param>
    /// <param name="groupNormEpsilon">Epsilon of the per-head group norm <c>ln_x</c> (published: 64e-5).</param>
    /// <exception cref="CheckpointFormatException">A tensor is missing or has an unexpected shape.</exception>
    public static ReferenceRwkv6 Load(RwkvCheckpoint checkpoint, float groupNormEpsilon = 64e-5f)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(groupNormEpsilon);
        return new ReferenceRwkv6(checkpoint, groupNormEpsilon);
    }

    /// <summary>Sets every state value back to zero (the initial state).</summary>
    public void Reset()
    {
        foreach (ReferenceLayerState layer in _state)
        {
            Array.Clear(layer.AttShift);
            Array.Clear(layer.Wkv);
            Array.Clear(layer.FfnShift);
        }
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
        int c = EmbeddingSize, n = HeadSize, dm = MixRank;

        // Token shift: sx = previous x - x; the state keeps this token's x.
        float[] sx = Subtract(state.AttShift, x);
        x.CopyTo(state.AttShift);

        // Data-dependent mixing: h = tanh((x + sx * maa_x) · w1) holds five rank-Dm rows,
        // m[s] = h[s] · w2[s] for s = w, k, v, r, g.
        float[] h = Map(RowTimesMatrix(Lerp(x, sx, p.MaaX), p.MaaW1), MathF.Tanh);
        var m = new float[MixSlots][];
        for (int s = 0; s < MixSlots; s++)
        {
            m[s] = RowTimesMatrix(h[(s * dm)..((s + 1) * dm)], p.MaaW2.AsSpan(s * dm * c, dm * c).ToArray());
        }
        float[] xw = Lerp(x, sx, Add(p.MaaW, m[0])), xk = Lerp(x, sx, Add(p.MaaK, m[1])), xv = Lerp(x, sx, Add(p.MaaV, m[2]));
        float[] xr = Lerp(x, sx, Add(p.MaaR, m[3])), xg = Lerp(x, sx, Add(p.MaaG, m[4]));

        float[] r = Linear(p.Receptance, xr);
        float[] k = Linear(p.Key, xk);
        float[] v = Linear(p.Value, xv);
        float[] g = Map(Linear(p.Gate, xg), static z => z * Sigmoid(z)); // SiLU

        // Data-dependent decay: w = time_decay + tanh(xw · decay_w1) · decay_w2, decay = exp(-exp(w)).
        float[] w = Add(p.TimeDecay, RowTimesMatrix(Map(RowTimesMatrix(xw, p.DecayW1), MathF.Tanh), p.DecayW2));
        float[] decay = Map(w, static wi => MathF.Exp(-MathF.Exp(wi)));

        // WKV, per head h with state S[i][j] (i = value index, j = key index), u = time_faaaa:
        //   y[i]    = sum_j r[j] * (u[j] * k[j] * v[i] + S[i][j])   (old S)
        //   S[i][j] = S[i][j] * decay[j] + v[i] * k[j]
        var y = new float[c];
        for (int hd = 0; hd < HeadCount; hd++)
        {
            int o = hd * n; // first channel of head hd
            Span<float> s = state.Wkv.AsSpan(hd * n * n, n * n);
            for (int i = 0; i < n; i++)
            {
                Span<float> row = s.Slice(i * n, n);
                double yi = 0;
                for (int j = 0; j < n; j++)
                {
                    float kv = v[o + i] * k[o + j];
                    yi += (double)r[o + j] * (p.Faaaa[o + j] * kv + row[j]);
                    row[j] = row[j] * decay[o + j] + kv;
                }
                y[o + i] = (float)yi;
            }
        }

        // Group norm per head (H groups of N), then the ln_x affine over C.
        for (int hd = 0; hd < HeadCount; hd++)
        {
            Normalize(y.AsSpan(hd * n, n), _groupNormEpsilon);
        }
        for (int i = 0; i < c; i++)
        {
            y[i] = y[i] * p.LnXWeight[i] + p.LnXBias[i];
        }

        return Linear(p.Output, Multiply(y, g));
    }

    /// <summary>Feed-forward (channel mix) of one layer for one token: σ(Wr · xr) ⊙ (Wv · relu(Wk · xk)²).</summary>
    private static float[] ChannelMix(Layer p, ReferenceLayerState state, float[] x)
    {
        float[] sx = Subtract(state.FfnShift, x);
        x.CopyTo(state.FfnShift);
        float[] hidden = Linear(p.FfnKey, Lerp(x, sx, p.FfnMaaK));
        for (int i = 0; i < hidden.Length; i++)
        {
            float relu = Math.Max(hidden[i], 0f);
            hidden[i] = relu * relu;
        }
        float[] r = Map(Linear(p.FfnReceptance, Lerp(x, sx, p.FfnMaaR)), Sigmoid);
        return Multiply(r, Linear(p.FfnValue, hidden));
    }

    /// <summary>Weights of one block, flattened row-major in PyTorch shape order.</summary>
    private sealed class Layer
    {
        public Layer(ReferenceWeights weights, int index, int c, int heads, int headSize, int ffn, int mixRank, int decayRank)
        {
            string b = $"blocks.{index}.";
            Ln1Weight = weights.Read(b + "ln1.weight", c);
            Ln1Bias = weights.Read(b + "ln1.bias", c);
            Ln2Weight = weights.Read(b + "ln2.weight", c);
            Ln2Bias = weights.Read(b + "ln2.bias", c);

            string att = b + "att.";
            MaaX = weights.Read(att + "time_maa_x", 1, 1, c);
            MaaW = weights.Read(att + "time_maa_w", 1, 1, c);
            MaaK = weights.Read(att + "time_maa_k", 1, 1, c);
            MaaV = weights.Read(att + "time_maa_v", 1, 1, c);
            MaaR = weights.Read(att + "time_maa_r", 1, 1, c);
            MaaG = weights.Read(att + "time_maa_g", 1, 1, c);
            MaaW1 = weights.Read(att + "time_maa_w1", c, MixSlots * mixRank);
            MaaW2 = weights.Read(att + "time_maa_w2", MixSlots, mixRank, c);
            TimeDecay = weights.Read(att + "time_decay", 1, 1, c);
            DecayW1 = weights.Read(att + "time_decay_w1", c, decayRank);
            DecayW2 = weights.Read(att + "time_decay_w2", decayRank, c);
            Faaaa = weights.Read(att + "time_faaaa", heads, headSize);
            Receptance = weights.Read(att + "receptance.weight", c, c);
            Key = weights.Read(att + "key.weight", c, c);
            Value = weights.Read(att + "value.weight", c, c);
            Gate = weights.Read(att + "gate.weight", c, c);
            Output = weights.Read(att + "output.weight", c, c);
            LnXWeight = weights.Read(att + "ln_x.weight", c);
            LnXBias = weights.Read(att + "ln_x.bias", c);

            FfnMaaK = weights.Read(b + "ffn.time_maa_k", 1, 1, c);
            FfnMaaR = weights.Read(b + "ffn.time_maa_r", 1, 1, c);
            FfnKey = weights.Read(b + "ffn.key.weight", ffn, c);
            FfnReceptance = weights.Read(b + "ffn.receptance.weight", c, c);
            FfnValue = weights.Read(b + "ffn.value.weight", c, ffn);
        }

        public float[] Ln1Weight { get; }

        public float[] Ln1Bias { get; }

        public float[] Ln2Weight { get; }

        public float[] Ln2Bias { get; }

        public float[] MaaX { get; }

        public float[] MaaW { get; }

        public float[] MaaK { get; }

        public float[] MaaV { get; }

        public float[] MaaR { get; }

        public float[] MaaG { get; }

        public float[] MaaW1 { get; } // [C, 5·Dm]

        public float[] MaaW2 { get; } // [5, Dm, C]

        public float[] TimeDecay { get; } // [C], the raw w before exp(-exp(.))

        public float[] DecayW1 { get; } // [C, Dw]

        public float[] DecayW2 { get; } // [Dw, C]

        public float[] Faaaa { get; } // [H, N]: the bonus u

        public float[] Receptance { get; } // [C, C]

        public float[] Key { get; }

        public float[] Value { get; }

        public float[] Gate { get; }

        public float[] Output { get; }

        public float[] LnXWeight { get; }

        public float[] LnXBias { get; }

        public float[] FfnMaaK { get; }

        public float[] FfnMaaR { get; }

        public float[] FfnKey { get; } // [F, C]

        public float[] FfnReceptance { get; } // [C, C]

        public float[] FfnValue { get; } // [C, F]
    }

}
