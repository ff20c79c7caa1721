namespace Rwkv.Onnx.Export.Checkpoints;

/// <summary>
/// Storage type of a checkpoint tensor. Every type is read as float32; the quantized types
/// (ggml's block formats, as rwkv.cpp stores them) are dequantized on read.
/// </summary>
public enum TensorDType
{
    /// <summary>IEEE binary32.</summary>
    Float32,

    /// <summary>IEEE binary16.</summary>
    Float16,

    /// <summary>bfloat16 (the top half of a binary32).</summary>
    BFloat16,

    /// <summary>ggml Q4_0: blocks of 32 weights, an FP16 scale and 4-bit values (18 bytes).</summary>
    Q4_0,

    /// <summary>ggml Q4_1: blocks of 32 weights, FP16 scale and minimum, 4-bit values (20 bytes).</summary>
    Q4_1,

    /// <summary>ggml Q5_0: blocks of 32 weights, an FP16 scale and 5-bit values (22 bytes).</summary>
    Q5_0,

    /// <summary>ggml Q5_1: blocks of 32 weights, FP16 scale and minimum, 5-bit values (24 bytes).</summary>
    Q5_1,

    /// <summary>ggml Q8_0: blocks of 32 weights, an FP16 scale and signed 8-bit values (34 bytes).</summary>
    Q8_0,
}
