namespace Rwkv.Onnx.Export;

/// <summary>
/// A ggml block format (as rwkv.cpp and llama.cpp store it: 32 weights per block, float16 scale) that a float32 export
/// can round its linear layers through (<see cref="ExportOptions.EmulatedFormat"/>): the format's weight error without
/// its kernels, to compare our own layouts with on the same weights.
/// </summary>
public enum EmulatedBlockFormat
{
    /// <summary>Q8_0: symmetric 8-bit codes, scale max|w| / 127.</summary>
    Q8_0,

    /// <summary>Q4_0: symmetric 4-bit codes, scale (the signed value of largest magnitude) / −8.</summary>
    Q4_0,

    /// <summary>Q5_1: asymmetric 5-bit codes, scale (max − min) / 31 and a float16 minimum per block.</summary>
    Q5_1,
}
