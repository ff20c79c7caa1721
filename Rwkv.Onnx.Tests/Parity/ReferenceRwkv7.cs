using Rwkv.Onnx.Export.Checkpoints;
using static Rwkv.Onnx.Tests.Parity.ReferenceMath;

namespace Rwkv.Onnx.Tests.Parity;

/// <summary>
/// RWKV-7 inference written out plainly: the specification the exported graphs are tested against.
/// One sequence, one token per <see cref="Forward"/>. Elementwise math is float32; dot products and
/// normalisation statistics accumulate in double. Weights are the canonical BlinkDL tensors of an
/// <see cref="RwkvCheckpoint"/> (linear weights in PyTorch <c>[out, in]</c> order, so y = W x; LoRA
/// matrices <c>w1</c> <c>[C, D]</c> and <c>w2</c> <c>[D, C]</c>, so y = (x · w1) · w2).
/// </summary>
/// <remarks>
/// Per token: x = LN0(emb[token]); per block x += TimeMix(LN1(x)); x += ChannelMix(LN2(x));
/// logits = head · LN_out(x). The state of each layer is <see cref="ReferenceLayerState"/>; it starts at zero.
/// </remarks>
internal sealed class ReferenceRwkv7
{
    private const float LayerNormEpsilon = 1e-5f;
    private const float GroupNormEpsilon = 64e-5f;
    private const float NormalizeEpsilon = 1e-12f;

    // decay = exp(-exp(-0.5) * sigmoid(w)): every decay lies in [exp(-0.6065), 1].
    private static readonly float s_decayScale = (float)Math.Exp(-0.5);

    private readonly float[] _embedding; // [V, C]
    private readonly float[] _ln0Weight, _ln0Bias;
    private readonly Layer[] _layers;
    private readonly float[] _lnOutWeight, _lnOutBias;
    private readonly float[] _head; // [V, C]
    private readonly ReferenceLayerState[] _state;

    private ReferenceRwkv7(RwkvCheckpoint checkpoint)
    {
        CheckpointTensor embedding = checkpoint.Get("emb.weight");
        if (embedding.Shape.Count != 2)
        {
            throw new CheckpointFormatException(checkpoint.Path, embedding.Name,
                $"Tensor 'emb.weight' has shape {embedding.ShapeText}; expected [vocab, n_embed].");
        }
        VocabSize = (int)embedding.Shape[0];
        EmbeddingSize = (int)embedding.Shape[1];
        CheckpointTensor rk = checkpoint.Get("blocks.0.att.r_k");
        if (rk.Shape.Count != 2 || rk.Shape[0] * rk.Shape[1] != EmbeddingSize)
        {
            throw new CheckpointFormatException(checkpoint.Path, rk.Name,
                $"Tensor 'blocks.0.att.r_k' has shape {rk.ShapeText}; expected [heads, head_size] with heads * head_size = {EmbeddingSize}.");
        }
        HeadCount = (int)rk.Shape[0];
        HeadSize = (int)rk.Shape[1];
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
            _layers[i] = new Layer(weights, i, c, HeadCount, HeadSize, FfnSize);
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

    /// <summary>Number of blocks.</summary>
    public int LayerCount => _layers.Length;

    /// <summary>
    /// The live recurrent state, one entry per layer. The arrays are the ones <see cref="Forward"/>
    /// updates: read them to compare states, write them to start from a given state.
    /// </summary>
    public IReadOnlyList<ReferenceLayerState> State => _state;

    /// <summary>Reads every weight of an RWKV-7 checkpoint; the state starts at zero.</summary>
    /// <exception cref="CheckpointFormatException">A tensor is missing or has an unexpected shape.</exception>
    public static ReferenceRwkv7 Load(RwkvCheckpoint checkpoint)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        return new ReferenceRwkv7(checkpoint);
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
        float[] vFirst = new float[c];
        for (int i = 0; i < _layers.Length; i++)
        {
            Layer layer = _layers[i];
            float[] attention = TimeMix(layer, _state[i], LayerNorm(x, layer.Ln1Weight, layer.Ln1Bias, LayerNormEpsilon), vFirst);
            AddInPlace(x, attention);
            float[] ffn = ChannelMix(layer, _state[i], LayerNorm(x, layer.Ln2Weight, layer.Ln2Bias, LayerNormEpsilon));
            AddInPlace(x, ffn);
        }
        return Linear(_head, LayerNorm(x, _lnOutWeight, _lnOutBias, LayerNormEpsilon));
    }

    /// <summary>
    /// Attention (time mix) of one layer for one token. <paramref name="vFirst"/> is written by layer 0
    /// and read by the later layers.
    /// </summary>
    private float[] TimeMix(Layer p, ReferenceLayerState state, float[] x, float[] vFirst)
    {
        int c = EmbeddingSize, n = HeadSize;

        // Token shift: sx = previous x - x; the state keeps this token's x.
        float[] sx = Subtract(state.AttShift, x);
        x.CopyTo(state.AttShift);
        float[] xr = Lerp(x, sx, p.XR), xw = Lerp(x, sx, p.XW), xk = Lerp(x, sx, p.XK);
        float[] xv = Lerp(x, sx, p.XV), xa = Lerp(x, sx, p.XA), xg = Lerp(x, sx, p.XG);

        float[] r = Linear(p.Receptance, xr);
        float[] w = Add(p.W0, RowTimesMatrix(Map(RowTimesMatrix(xw, p.W1), MathF.Tanh), p.W2));
        float[] k = Linear(p.Key, xk);
        float[] v = Linear(p.Value, xv);
        float[] a = Map(Add(p.A0, RowTimesMatrix(RowTimesMatrix(xa, p.A1), p.A2)), Sigmoid);
        float[] g = RowTimesMatrix(Map(RowTimesMatrix(xg, p.G1), Sigmoid), p.G2);

        float[] kk = NormalizePerHead(Multiply(k, p.KK));
        for (int i = 0; i < c; i++)
        {
            k[i] *= 1 + (a[i] - 1) * p.KA[i];
        }

        if (p.Index == 0)
        {
            v.CopyTo(vFirst);
        }
        else
        {
            // Every layer after 0 has v0/v1/v2: Layer's constructor requires them.
            float[] mix = Map(Add(p.V0!, RowTimesMatrix(RowTimesMatrix(xv, p.V1!), p.V2!)), Sigmoid);
            for (int i = 0; i < c; i++)
            {
                v[i] += (vFirst[i] - v[i]) * mix[i];
            }
        }

        float[] decay = Map(w, wi => MathF.Exp(-s_decayScale * Sigmoid(wi)));

        // WKV, per head h with state S[i][j] (i = value index, j = key index):
        //   S[i][j] = S[i][j] * decay[j] + (sum_m S[i][m] * -kk[m]) * kk[j] * a[j] + v[i] * k[j]
        //   y[i]    = sum_j S[i][j] * r[j]   (new S)
        var y = new float[c];
        for (int h = 0; h < HeadCount; h++)
        {
            int o = h * n; // first channel of head h
            Span<float> s = state.Wkv.AsSpan(h * n * n, n * n);
            for (int i = 0; i < n; i++)
            {
                Span<float> row = s.Slice(i * n, n);
                double removal = 0;
                for (int m = 0; m < n; m++)
                {
                    removal += (double)row[m] * -kk[o + m];
                }
                double yi = 0;
                for (int j = 0; j < n; j++)
                {
                    row[j] = row[j] * decay[o + j] + (float)removal * (kk[o + j] * a[o + j]) + v[o + i] * k[o + j];
                    yi += (double)row[j] * r[o + j];
                }
                y[o + i] = (float)yi;
            }
        }

        // Group norm per head, then the "bonus": y += (sum_j r[j] k[j] r_k[h][j]) * v, per head.
        for (int h = 0; h < HeadCount; h++)
        {
            int o = h * n;
            Span<float> head = y.AsSpan(o, n);
            Normalize(head, GroupNormEpsilon);
            double bonus = 0;
            for (int j = 0; j < n; j++)
            {
                bonus += (double)r[o + j] * k[o + j] * p.RK[o + j];
            }
            for (int i = 0; i < n; i++)
            {
                head[i] = head[i] * p.LnXWeight[o + i] + p.LnXBias[o + i] + (float)bonus * v[o + i];
            }
        }

        return Linear(p.Output, Multiply(y, g));
    }

    /// <summary>Feed-forward (channel mix) of one layer for one token: Wv · relu(Wk · xk)².</summary>
    private static float[] ChannelMix(Layer p, ReferenceLayerState state, float[] x)
    {
        float[] sx = Subtract(state.FfnShift, x);
        x.CopyTo(state.FfnShift);
        float[] hidden = Linear(p.FfnKey, Lerp(x, sx, p.FfnXK));
        for (int i = 0; i < hidden.Length; i++)
        {
            float relu = Math.Max(hidden[i], 0f);
            hidden[i] = relu * relu;
        }
        return Linear(p.FfnValue, hidden);
    }

    /// <summary>L2-normalises each head's N values: x / max(||x||, 1e-12).</summary>
    private float[] NormalizePerHead(float[] x)
    {
        var result = new float[x.Length];
        for (int o = 0; o < x.Length; o += HeadSize)
        {
            double sumSquares = 0;
            for (int j = 0; j < HeadSize; j++)
            {
                sumSquares += (double)x[o + j] * x[o + j];
            }
            float norm = Math.Max((float)Math.Sqrt(sumSquares), NormalizeEpsilon);
            for (int j = 0; j < HeadSize; j++)
            {
                result[o + j] = x[o + j] / norm;
            }
        }
        return result;
    }

    /// <summary>Weights of one block, flattened row-major in PyTorch shape order.</summary>
    private sealed class Layer
    {
        public Layer(ReferenceWeights weights, int index, int c, int heads, int headSize, int ffn)
        {
            Index = index;
            string b = $"blocks.{index}.";
            Ln1Weight = weights.Read(b + "ln1.weight", c);
            Ln1Bias = weights.Read(b + "ln1.bias", c);
            Ln2Weight = weights.Read(b + "ln2.weight", c);
            Ln2Bias = weights.Read(b + "ln2.bias", c);

            string att = b + "att.";
            XR = weights.Read(att + "x_r", 1, 1, c);
            XW = weights.Read(att + "x_w", 1, 1, c);
            XK = weights.Read(att + "x_k", 1, 1, c);
            XV = weights.Read(att + "x_v", 1, 1, c);
            XA = weights.Read(att + "x_a", 1, 1, c);
            XG = weights.Read(att + "x_g", 1, 1, c);
            W0 = weights.Read(att + "w0", 1, 1, c);
            W1 = weights.ReadLora(att + "w1", c);
            W2 = weights.Read(att + "w2", W1.Length / c, c);
            A0 = weights.Read(att + "a0", 1, 1, c);
            A1 = weights.ReadLora(att + "a1", c);
            A2 = weights.Read(att + "a2", A1.Length / c, c);
            if (index > 0)
            {
                V0 = weights.Read(att + "v0", 1, 1, c);
                V1 = weights.ReadLora(att + "v1", c);
                V2 = weights.Read(att + "v2", V1.Length / c, c);
            }
            G1 = weights.ReadLora(att + "g1", c);
            G2 = weights.Read(att + "g2", G1.Length / c, c);
            KK = weights.Read(att + "k_k", 1, 1, c);
            KA = weights.Read(att + "k_a", 1, 1, c);
            RK = weights.Read(att + "r_k", heads, headSize);
            Receptance = weights.Read(att + "receptance.weight", c, c);
            Key = weights.Read(att + "key.weight", c, c);
            Value = weights.Read(att + "value.weight", c, c);
            Output = weights.Read(att + "output.weight", c, c);
            LnXWeight = weights.Read(att + "ln_x.weight", c);
            LnXBias = weights.Read(att + "ln_x.bias", c);

            FfnXK = weights.Read(b + "ffn.x_k", 1, 1, c);
            FfnKey = weights.Read(b + "ffn.key.weight", ffn, c);
            FfnValue = weights.Read(b + "ffn.value.weight", c, ffn);
        }

        public int Index { get; }

        public float[] Ln1Weight { get; }

        public float[] Ln1Bias { get; }

        public float[] Ln2Weight { get; }

        public float[] Ln2Bias { get; }

        public float[] XR { get; }

        public float[] XW { get; }

        public float[] XK { get; }

        public float[] XV { get; }

        public float[] XA { get; }

        public float[] XG { get; }

        public float[] W0 { get; }

        public float[] W1 { get; } // [C, Dw]

        public float[] W2 { get; } // [Dw, C]

        public float[] A0 { get; }

        public float[] A1 { get; } // [C, Da]

        public float[] A2 { get; } // [Da, C]

        public float[]? V0 { get; } // absent in layer 0

        public float[]? V1 { get; } // [C, Dv]

        public float[]? V2 { get; } // [Dv, C]

        public float[] G1 { get; } // [C, Dg]

        public float[] G2 { get; } // [Dg, C]

        public float[] KK { get; }

        public float[] KA { get; }

        public float[] RK { get; } // [H, N]

        public float[] Receptance { get; } // [C, C]

        public float[] Key { get; }

        public float[] Value { get; }

        public float[] Output { get; }

        public float[] LnXWeight { get; }

        public float[] LnXBias { get; }

        public float[] FfnXK { get; }

        public float[] FfnKey { get; } // [F, C]

        public float[] FfnValue { get; } // [C, F]
    }

}
