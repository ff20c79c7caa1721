using Rwkv.Onnx.Export.Graph;
using static Rwkv.Onnx.Export.Graph.Ops;

namespace Rwkv.Onnx.Export.Architectures;

/// <summary>RWKV-4's recurrence over whole chunks, in log space, for prefill graphs.</summary>
internal sealed partial class RwkvV4
{
    /// <summary>The key of a padding position: its exponent e^(k − p) is 0, so it adds nothing to the state.</summary>
    private const float NoKey = -1e30f;

    // Per channel, with w the (negative) log-decay of each position: inside a chunk, position t sees the carried
    // state with exponent pp + Σ_{i<t} w_i, each earlier token s with k_s + Σ_{s<i<t} w_i, and itself with u + k_t;
    // wkv_t is the exp-weighted mean of (aa or v) over those terms, every exponent shifted by their max (log-sum-exp).
    // After the chunk the state holds k_s + Σ_{i>s} w_i and pp + Σ_i w_i, shifted by their max pp'.
    // The part of each chunk that does not depend on the carried state is computed for all chunks at once.
    private ChunkedWkv WkvChunk(RwkvBlock b, Value[] x, Value u)
    {
        (Value k, Value v, Value w) = (x[0], x[1], x[2]); // [B, T/L, L, C]
        Value later = Unsqueeze((b.Earlier() - 1f) * 1e30f, -1);                    // [t, s, 1]: −1e30 where s ≥ t
        Value pair = Unsqueeze(k, -3) + b.PairDecay(w, leading: 2) + later;         // [B, T/L, t, s, C]
        Value self = u + k;
        Value m = Max(self, Squeeze(ReduceMax(pair, -2), -2));                       // max exponent within the chunk
        Value ePair = Exp(pair - Unsqueeze(m, -2)), eSelf = Exp(self - m);
        Value num = Squeeze(ReduceSum(ePair * Unsqueeze(v, -3), -2), -2) + eSelf * v;
        Value den = Squeeze(ReduceSum(ePair, -2), -2) + eSelf;
        Value carried = CumSum(w, -2, exclusive: true);                              // Σ_{i<t} w_i

        Value exponent = k + CumSum(w, -2, exclusive: true, reverse: true);          // k_s + Σ_{i>s} w_i
        Value top = ReduceMax(exponent, -2), e = Exp(exponent - top);
        Value add = ReduceSum(e * v, -2), addDen = ReduceSum(e, -2), decay = ReduceSum(w, -2);
        Value[] perChunk = [.. new[] { top, add, addDen, decay }.Select(t => Squeeze(t, -2))]; // [B, T/L, C]

        return new ChunkedWkv(perChunk, Step, Output);

        // aa' = e^(pp + Σw − pp') aa + e^(top − pp') add, likewise bb; pp' = max(pp + Σw, top).
        static Value[] Step(Value[] s, Value[] t)
        {
            (Value aa, Value bb, Value pp) = (s[0], s[1], s[2]);
            Value q = pp + t[3], p = Max(q, t[0]);
            Value e1 = Exp(q - p), e2 = Exp(t[0] - p);
            return [e1 * aa + e2 * t[1], e1 * bb + e2 * t[2], p];
        }

        Value Output(Value[] s)
        {
            (Value aa, Value bb, Value pp) = (Unsqueeze(s[0], -2), Unsqueeze(s[1], -2), Unsqueeze(s[2], -2)); // [B, T/L, 1, C]
            Value c = pp + carried, p = Max(c, m);
            Value e1 = Exp(c - p), e2 = Exp(m - p);
            return (e1 * aa + e2 * num) / (e1 * bb + e2 * den);
        }
    }
}
