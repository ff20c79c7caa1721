namespace Rwkv.Onnx.Export;

/// <summary>
/// Arithmetic of the block-quantized (int8/int4) matmuls, ONNX Runtime's <c>MatMulNBits</c> <c>accuracy_level</c>.
/// </summary>
public enum QuantizedCompute
{
    /// <summary>
    /// Activations are quantized per block to int8 inside the kernel and multiplied with integer dot products
    /// (<c>accuracy_level</c> 4): on the CPU provider int8 weights decode about 2× faster than float32 weights and 20×
    /// faster than with <see cref="Float32"/> (BENCHMARKS.md), for a small extra error. The default.
    /// </summary>
    Int8,

    /// <summary>Weights are dequantized and multiplied with float32 activations (<c>accuracy_level</c> 1): the closest to float32, but slow for int8 weights on CPU.</summary>
    Float32,
}
