namespace Rwkv.Onnx.Export.Graph;

internal static partial class Ops
{
    /// <summary>Elements per block of ggml's q8_0/q8_1 activation blocks.</summary>
    public const int GgmlBlock = 32;

    /// <summary>
    /// y = x · W the way ggml's CPU <c>ggml_mul_mat</c> computes it for a quantized weight (rwkv.cpp's Q8_0, Q4_0 and
    /// Q5_1 matmuls): each row of <paramref name="x"/> [..., K] is first converted to ggml's <c>vec_dot_type</c> as
    /// <c>quantize_row_q8_0</c>/<c>quantize_row_q8_1</c> (x86 AVX2) do it, per block of 32: codes
    /// round(x · (127 / max|x|)) with halves to even (<c>_mm256_round_ps</c>, <c>_MM_ROUND_NEAREST</c>), scale
    /// d = max|x| / 127 stored as float16. <paramref name="weight"/> [K, N] holds the dequantized weights (d·q for Q5_1);
    /// with <paramref name="minimums"/> [K/32, N] (Q5_1 against q8_1) each block adds its minimum m times q8_1's block
    /// sum s = float16(d · Σ codes), as <c>ggml_vec_dot_q5_1_q8_1</c> does. The products of codes and float16 scales are
    /// exact in float32, so only the summation order differs from ggml's integer block sums.
    /// </summary>
    public static Value GgmlLinear(Value x, Value weight, Value? minimums, int k)
    {
        OnnxGraph g = x.Graph;
        Value blocks = Reshape(x, -1, k / GgmlBlock, GgmlBlock);
        Value amax = ReduceMax(Abs(blocks), -1);
        // ggml takes the multiplier 127 / max, not 1 / d, and 0 for an all-zero block.
        Value multiplier = Where(LessOrEqual(amax, g.Const(0f)), g.Const(0f), g.Const(127f) / amax);
        Value codes = Round(blocks * multiplier);
        Value d = amax / 127f;
        Value rounded = Reshape(codes * AsFloat16(d), Shape(x));
        Value y = MatMul(rounded, weight);
        if (minimums is not { } m)
        {
            return y;
        }
        Value sums = AsFloat16(d * ReduceSum(codes, -1));
        Value rows = Slice(Shape(x), 0, -1, 0);
        return y + MatMul(Reshape(sums, Concat(0, rows, g.Int64s(k / GgmlBlock))), m);
    }

    // A float32 value rounded to float16 (to nearest, ties to even, as ggml's GGML_FP32_TO_FP16) and back.
    private static Value AsFloat16(Value x) => Cast(Cast(x, ElementType.Float16), ElementType.Float);
}
