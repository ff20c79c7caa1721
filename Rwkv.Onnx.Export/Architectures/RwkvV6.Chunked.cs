using Rwkv.Onnx.Export.Graph;
using static Rwkv.Onnx.Export.Graph.Ops;

namespace Rwkv.Onnx.Export.Architectures;

/// <summary>RWKV-6's recurrence over whole chunks, for prefill graphs.</summary>
internal sealed partial class RwkvV6
{
    /// <summary>
    /// Floor of the log-decay in the chunked form: e^−1e30 is 0 like e^−∞, but a mask multiplying it stays 0
    /// (0·−∞ would be NaN). Only a decay that is exactly 0 in float32 is affected.
    /// </summary>
    public const float MinLogDecay = -1e30f;

    // S_t = S_{t-1} diag(w_t) + v_t k_tᵀ, y_t = S_{t-1} r_t (the bonus is added outside). Over one chunk, with Γ_t = w_1⋯w_t:
    //   y_t = S_0 (Γ_{t-1}⊙r_t) + Σ_{s<t} A[t, s] v_s,   A[t, s] = Σ_j r_tj k_sj Γ_{t-1,j}/Γ_{s,j}
    //   S_L = S_0 diag(Γ_L) + Σ_s v_s (k_s⊙Γ_L/Γ_s)ᵀ
    // Every decay ratio is a sum of log-decays over its own span (no 1/Γ): Γ itself underflows when w is near 0.
    // RWKV-5 runs it too, with its constant decay expanded to every position.
    internal static ChunkedWkv WkvChunk(RwkvBlock b, Value[] x)
    {
        (Value r, Value logW, Value k, Value v) = (x[0], x[1], x[2], x[3]); // [B, T/L, H, L, N]
        Value rPrev = r * Exp(CumSum(logW, -2, exclusive: true));                   // r_t ⊙ Γ_{t-1}
        Value kTilde = k * Exp(CumSum(logW, -2, exclusive: true, reverse: true));   // k_s ⊙ Γ_L/Γ_s
        Value gammaL = Exp(ReduceSum(logW, -2));                                     // Γ_L as a row [.., 1, N]
        Value d = MatMul(T(v), kTilde), y0 = MatMul(b.DecayedScores(r, k, logW), v);
        return new ChunkedWkv([gammaL, d], (s, t) => [s[0] * t[0] + t[1]], s => MatMul(rPrev, T(s[0])) + y0);
    }

    // The transpose of the last two axes of a chunked [B, T/L, H, ·, ·] tensor.
    private static Value T(Value x) => TransposeLastTwo(x, 5);
}
