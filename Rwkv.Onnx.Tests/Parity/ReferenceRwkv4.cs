using System.Numerics;
using Rwkv.Onnx.Export.Checkpoints;

namespace Rwkv.Onnx.Tests.Parity;

/// <summary>
/// RWKV-4 inference written out plainly: the specification the exported graphs are tested against.
/// One sequence, one token per <see cref="Forward"/>. Elementwise math is in <typeparamref name="T"/>
/// (<c>float</c>, the graphs' precision, or <c>double</c> as a more exact yardstick); dot products and
/// normalisation statistics accumulate in double. Weights are the canonical BlinkDL tensors of an
/// <see cref="RwkvCheckpoint"/>: linear weights <c>[out, in]</c> (y = W x), <c>att.time_decay</c> as trained
/// (the decay per step is w = −exp(time_decay)), <c>time_mix_*</c> <c>[1, 1, C]</c>.
/// </summary>
/// <remarks>
/// Per token: x = LN0(emb[token]); per block x += TimeMix(LN1(x)); x += ChannelMix(LN2(x));
/// logits = head · LN_out(x). Both mixes interpolate with the previous token: xk = x·μk + prev·(1 − μk).
/// TimeMix: r = σ(Wr xr), k = Wk xk, v = Wv xv; out = Wo (r ⊙ wkv) with, per channel,
/// wkv = (Σᵢ e^(w·(t−1−i) + kᵢ) vᵢ + e^(u + k) v) / (Σᵢ e^(w·(t−1−i) + kᵢ) + e^(u + k)), u = time_first.
/// The two sums are the state aa and bb, kept scaled by e^(−pp) with pp the largest exponent so far,
/// so that no exp sees a positive argument (as rwkv.cpp and ChatRWKV keep them).
/// ChannelMix: r = σ(Wr xr); k = relu(Wk xk)²; out = r ⊙ (Wv k).
/// </remarks>
internal sealed class ReferenceRwkv4<T> where T : struct, IBinaryFloatingPointIeee754<T>
{
    /// <summary>Initial pp: every e^(pp − ·) is 0, so the first token sees no history.</summary>
    public const float NoHistory = -1e30f;

    private const double LayerNormEpsilon = 1e-5;

    private readonly T[] _embedding; // [V, C]
    private readonly T[] _ln0Weight, _ln0Bias;
    private readonly Layer[] _layers;
    private readonly T[] _lnOutWeight, _lnOutBias;
    private readonly T[] _head; // [V, C]
    private readonly LayerState[] _state;
    private readonly bool _halfLinears;
    private readonly int _rescaleEvery;

    private ReferenceRwkv4(RwkvCheckpoint checkpoint, bool halfLinears, int rescaleEvery)
    {
        _halfLinears = halfLinears;
        _rescaleEvery = rescaleEvery;
        CheckpointTensor embedding = checkpoint.Get("emb.weight");
        if (embedding.Shape.Count != 2)
        {
            throw new CheckpointFormatException(checkpoint.Path, embedding.Name,
                $"Tensor 'emb.weight' has shape {embedding.ShapeText}; expected [vocab, n_embed].");
        }
        VocabSize = (int)embedding.Shape[0];
        EmbeddingSize = (int)embedding.Shape[1];
        FfnSize = (int)checkpoint.Get("blocks.0.ffn.key.weight").Shape[0];
        int layerCount = 0;
        while (checkpoint.Find($"blocks.{layerCount}.ln1.weight") is not null)
        {
            layerCount++;
        }

        var weights = new Weights(checkpoint);
        int c = EmbeddingSize;
        _embedding = weights.Read("emb.weight", VocabSize, c);
        _ln0Weight = weights.Read("blocks.0.ln0.weight", c);
        _ln0Bias = weights.Read("blocks.0.ln0.bias", c);
        _layers = new Layer[layerCount];
        _state = new LayerState[layerCount];
        for (int i = 0; i < layerCount; i++)
        {
            _layers[i] = new Layer(weights, i, c, FfnSize);
            if (rescaleEvery > 0)
            {
                // As the export and ChatRWKV: the matmuls that write the residual stream shrink by 2^(layer / N).
                T scale = T.CreateTruncating(Math.ScaleB(1, -(i / rescaleEvery)));
                ScaleInPlace(_layers[i].Output, scale);
                ScaleInPlace(_layers[i].FfnValue, scale);
            }
            _state[i] = new LayerState(c);
        }
        _lnOutWeight = weights.Read("ln_out.weight", c);
        _lnOutBias = weights.Read("ln_out.bias", c);
        _head = weights.Read("head.weight", VocabSize, c);
    }

    /// <summary>Vocabulary size V.</summary>
    public int VocabSize { get; }

    /// <summary>Embedding width C.</summary>
    public int EmbeddingSize { get; }

    /// <summary>Channel-mix hidden width F.</summary>
    public int FfnSize { get; }

    /// <summary>The largest |output| of any linear layer so far, before rounding: above 65504 a float16 GEMM overflows.</summary>
    public double LargestLinearOutput { get; private set; }

    /// <summary>Number of blocks.</summary>
    public int LayerCount => _layers.Length;

    /// <summary>
    /// The live recurrent state, one entry per layer: the arrays <see cref="Forward"/> updates, in the
    /// exported graphs' slot order and layout.
    /// </summary>
    public IReadOnlyList<LayerState> State => _state;

    /// <summary>Reads every weight of an RWKV-4 checkpoint; the state starts as <see cref="Reset"/> leaves it.</summary>
    /// <param name="checkpoint">The checkpoint.</param>
    /// <param name="halfLinears">
    /// Emulate a float16 GEMM in every linear layer (the head included): weights, inputs and outputs rounded to
    /// <see cref="Half"/> (so an output beyond ±65504 becomes infinite), sums exact. Everything else stays in T.
    /// </param>
    /// <param name="rescaleEvery">
    /// Halve the residual stream after every this many layers, with each layer's att.output and ffn.value weights
    /// divided by 2^(layer / N), as ChatRWKV does for fp16; 0 for none.
    /// </param>
    /// <exception cref="CheckpointFormatException">A tensor is missing or has an unexpected shape.</exception>
    public static ReferenceRwkv4<T> Load(RwkvCheckpoint checkpoint, bool halfLinears = false, int rescaleEvery = 0)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        return new ReferenceRwkv4<T>(checkpoint, halfLinears, rescaleEvery);
    }

    /// <summary>The initial state: zeros, except pp = <see cref="NoHistory"/>.</summary>
    public void Reset()
    {
        foreach (LayerState layer in _state)
        {
            layer.Reset();
        }
    }

    /// <summary>Feeds one token, advances the state and returns the logits (V floats, rounded from T).</summary>
    public float[] Forward(int token)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(token);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(token, VocabSize);
        int c = EmbeddingSize;

        T[] x = LayerNorm(_embedding.AsSpan(token * c, c), _ln0Weight, _ln0Bias);
        for (int i = 0; i < _layers.Length; i++)
        {
            Layer layer = _layers[i];
            AddInPlace(x, TimeMix(layer, _state[i], LayerNorm(x, layer.Ln1Weight, layer.Ln1Bias)));
            AddInPlace(x, ChannelMix(layer, _state[i], LayerNorm(x, layer.Ln2Weight, layer.Ln2Bias)));
            if (_rescaleEvery > 0 && (i + 1) % _rescaleEvery == 0)
            {
                ScaleInPlace(x, T.CreateTruncating(0.5));
            }
        }
        return Array.ConvertAll(Linear(_head, LayerNorm(x, _lnOutWeight, _lnOutBias)), float.CreateTruncating);
    }

    /// <summary>Attention (time mix) of one layer for one token.</summary>
    private T[] TimeMix(Layer p, LayerState state, T[] x)
    {
        T[] prev = [.. state.AttShift];
        x.CopyTo(state.AttShift, 0);
        T[] r = Map(Linear(p.Receptance, Mix(x, prev, p.MixR)), Sigmoid);
        T[] k = Linear(p.Key, Mix(x, prev, p.MixK));
        T[] v = Linear(p.Value, Mix(x, prev, p.MixV));

        (T[] aa, T[] bb, T[] pp) = (state.Aa, state.Bb, state.Pp);
        var rwkv = new T[x.Length];
        for (int i = 0; i < x.Length; i++)
        {
            // Output: the history plus this token with the bonus u, all scaled by e^(−q).
            T ww = p.First[i] + k[i], q = T.Max(pp[i], ww);
            T e1 = T.Exp(pp[i] - q), e2 = T.Exp(ww - q);
            T wkv = (e1 * aa[i] + e2 * v[i]) / (e1 * bb[i] + e2);
            rwkv[i] = r[i] * wkv;

            // State: the history decays by e^w and gains this token without the bonus.
            ww = pp[i] + p.Decay[i];
            q = T.Max(ww, k[i]);
            e1 = T.Exp(ww - q);
            e2 = T.Exp(k[i] - q);
            aa[i] = e1 * aa[i] + e2 * v[i];
            bb[i] = e1 * bb[i] + e2;
            pp[i] = q;
        }
        return Linear(p.Output, rwkv);
    }

    /// <summary>Feed-forward (channel mix) of one layer for one token: σ(Wr xr) ⊙ (Wv · relu(Wk xk)²).</summary>
    private T[] ChannelMix(Layer p, LayerState state, T[] x)
    {
        T[] prev = [.. state.FfnShift];
        x.CopyTo(state.FfnShift, 0);
        T[] r = Map(Linear(p.FfnReceptance, Mix(x, prev, p.FfnMixR)), Sigmoid);
        T[] k = Map(Linear(p.FfnKey, Mix(x, prev, p.FfnMixK)), h =>
        {
            T relu = T.Max(h, T.Zero);
            return relu * relu;
        });
        T[] y = Linear(p.FfnValue, k);
        for (int i = 0; i < y.Length; i++)
        {
            y[i] *= r[i];
        }
        return y;
    }

    /// <summary>(x − mean) / sqrt(var + eps) · weight + bias, with the biased variance; statistics in double.</summary>
    private static T[] LayerNorm(ReadOnlySpan<T> x, T[] weight, T[] bias)
    {
        double mean = 0, variance = 0;
        foreach (T value in x)
        {
            mean += double.CreateTruncating(value);
        }
        mean /= x.Length;
        foreach (T value in x)
        {
            double d = double.CreateTruncating(value) - mean;
            variance += d * d;
        }
        T m = T.CreateTruncating(mean), scale = T.CreateTruncating(1 / Math.Sqrt(variance / x.Length + LayerNormEpsilon));
        var y = new T[x.Length];
        for (int i = 0; i < y.Length; i++)
        {
            y[i] = (x[i] - m) * scale * weight[i] + bias[i];
        }
        return y;
    }

    /// <summary>
    /// y = W x, with W stored [out, in] row-major (PyTorch's <c>nn.Linear</c> weight); sums in double. With half-precision
    /// linears, W, x and y are rounded to <see cref="Half"/>.
    /// </summary>
    private T[] Linear(T[] weight, T[] x)
    {
        int inputs = x.Length, outputs = weight.Length / inputs;
        var y = new T[outputs];
        for (int o = 0; o < outputs; o++)
        {
            double sum = 0;
            for (int i = 0; i < inputs; i++)
            {
                sum += Round(weight[o * inputs + i]) * Round(x[i]);
            }
            LargestLinearOutput = Math.Max(LargestLinearOutput, Math.Abs(sum));
            y[o] = T.CreateTruncating(_halfLinears ? (double)(Half)sum : sum);
        }
        return y;
    }

    // An explicit conversion to Half, which (unlike a saturating one) gives ±∞ beyond ±65504, as a float16 GEMM does.
    private double Round(T value) => _halfLinears ? (double)(Half)double.CreateTruncating(value) : double.CreateTruncating(value);

    private static void ScaleInPlace(T[] x, T scale)
    {
        for (int i = 0; i < x.Length; i++)
        {
            x[i] *= scale;
        }
    }

    /// <summary>x·μ + prev·(1 − μ): the token-shift interpolation.</summary>
    private static T[] Mix(T[] x, T[] prev, T[] mu)
    {
        var y = new T[x.Length];
        for (int i = 0; i < y.Length; i++)
        {
            y[i] = x[i] * mu[i] + prev[i] * (T.One - mu[i]);
        }
        return y;
    }

    private static T Sigmoid(T x) => T.One / (T.One + T.Exp(-x));

    private static T[] Map(T[] x, Func<T, T> f) => Array.ConvertAll(x, f.Invoke);

    private static void AddInPlace(T[] x, T[] delta)
    {
        for (int i = 0; i < x.Length; i++)
        {
            x[i] += delta[i];
        }
    }

    /// <summary>The recurrent state of one layer, slot by slot as the exported graphs carry it, each <c>[C]</c>.</summary>
    internal sealed class LayerState(int embeddingSize)
    {
        /// <summary>The previous token's LN1 output (time-mix token shift).</summary>
        public T[] AttShift { get; } = new T[embeddingSize];

        /// <summary>Σᵢ e^(w·(t−1−i) + kᵢ − pp) vᵢ: the WKV numerator over the history.</summary>
        public T[] Aa { get; } = new T[embeddingSize];

        /// <summary>Σᵢ e^(w·(t−1−i) + kᵢ − pp): the WKV denominator over the history.</summary>
        public T[] Bb { get; } = new T[embeddingSize];

        /// <summary>The exponent aa and bb are scaled by; <see cref="NoHistory"/> before the first token.</summary>
        public T[] Pp { get; } = Filled(embeddingSize, T.CreateTruncating(NoHistory));

        /// <summary>The previous token's LN2 output (channel-mix token shift).</summary>
        public T[] FfnShift { get; } = new T[embeddingSize];

        /// <summary>The slots in graph order: att_shift, aa, bb, pp, ffn_shift.</summary>
        public T[][] Slots => [AttShift, Aa, Bb, Pp, FfnShift];

        public void Reset()
        {
            Array.Clear(AttShift);
            Array.Clear(Aa);
            Array.Clear(Bb);
            Array.Fill(Pp, T.CreateTruncating(NoHistory));
            Array.Clear(FfnShift);
        }

        private static T[] Filled(int length, T value)
        {
            var a = new T[length];
            Array.Fill(a, value);
            return a;
        }
    }

    /// <summary>Weights of one block, flattened row-major in PyTorch shape order; decay already −exp(time_decay).</summary>
    private sealed class Layer
    {
        public Layer(Weights weights, int index, int c, int ffn)
        {
            string b = $"blocks.{index}.";
            Ln1Weight = weights.Read(b + "ln1.weight", c);
            Ln1Bias = weights.Read(b + "ln1.bias", c);
            Ln2Weight = weights.Read(b + "ln2.weight", c);
            Ln2Bias = weights.Read(b + "ln2.bias", c);

            string att = b + "att.";
            Decay = Map(weights.Read(att + "time_decay", c), d => -T.Exp(d));
            First = weights.Read(att + "time_first", c);
            MixK = weights.Read(att + "time_mix_k", 1, 1, c);
            MixV = weights.Read(att + "time_mix_v", 1, 1, c);
            MixR = weights.Read(att + "time_mix_r", 1, 1, c);
            Key = weights.Read(att + "key.weight", c, c);
            Value = weights.Read(att + "value.weight", c, c);
            Receptance = weights.Read(att + "receptance.weight", c, c);
            Output = weights.Read(att + "output.weight", c, c);

            string f = b + "ffn.";
            FfnMixK = weights.Read(f + "time_mix_k", 1, 1, c);
            FfnMixR = weights.Read(f + "time_mix_r", 1, 1, c);
            FfnKey = weights.Read(f + "key.weight", ffn, c);
            FfnValue = weights.Read(f + "value.weight", c, ffn);
            FfnReceptance = weights.Read(f + "receptance.weight", c, c);
        }

        public T[] Ln1Weight { get; }

        public T[] Ln1Bias { get; }

        public T[] Ln2Weight { get; }

        public T[] Ln2Bias { get; }

        public T[] Decay { get; } // w = −exp(time_decay)

        public T[] First { get; } // u

        public T[] MixK { get; }

        public T[] MixV { get; }

        public T[] MixR { get; }

        public T[] Key { get; } // [C, C]

        public T[] Value { get; }

        public T[] Receptance { get; }

        public T[] Output { get; }

        public T[] FfnMixK { get; }

        public T[] FfnMixR { get; }

        public T[] FfnKey { get; } // [F, C]

        public T[] FfnValue { get; } // [C, F]

        public T[] FfnReceptance { get; } // [C, C]
    }

    /// <summary>Reads canonical tensors into T, checking each shape.</summary>
    private sealed class Weights(RwkvCheckpoint checkpoint)
    {
        private readonly ReferenceWeights _weights = new(checkpoint);

        public T[] Read(string name, params long[] shape) => Array.ConvertAll(_weights.Read(name, shape), T.CreateTruncating);
    }
}
