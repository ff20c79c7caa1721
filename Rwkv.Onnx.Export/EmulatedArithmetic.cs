namespace Rwkv.Onnx.Export;

/// <summary>
/// What an <see cref="ExportOptions.EmulatedFormat"/> export reproduces of rwkv.cpp's quantized matmuls
/// (ggml's CPU <c>ggml_mul_mat</c> with a quantized weight).
/// </summary>
public enum EmulatedArithmetic
{
    /// <summary>
    /// The weights and the activations: before each emulated matmul the activations are rounded the way ggml converts
    /// them to its <c>vec_dot_type</c> (blocks of 32 along the input, codes round(x · 127 / max|x|) half to even,
    /// scale max|x| / 127 stored as float16): q8_0 for Q8_0 and Q4_0, q8_1 for Q5_1, whose dot also takes the block
    /// minimums times q8_1's float16 block sums. The products then agree with rwkv.cpp's up to float32 summation
    /// order. The default.
    /// </summary>
    Ggml,

    /// <summary>The weights only, multiplied with float32 activations: the format's weight error alone.</summary>
    WeightsOnly,
}
