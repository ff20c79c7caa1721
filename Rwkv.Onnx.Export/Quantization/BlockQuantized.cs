namespace Rwkv.Onnx.Export.Quantization;

/// <summary>
/// A block-quantized [N, K] weight in ONNX Runtime's <c>MatMulNBits</c> layout: packed codes [N, blocks, blob],
/// float32 scales [N · blocks], and for asymmetric blocks uint8 zero points [N, ⌈blocks · bits / 8⌉] (null: the
/// op's default zero point 2^(bits−1)).
/// </summary>
internal sealed record BlockQuantized(byte[] Codes, float[] Scales, byte[]? ZeroPoints);
