namespace Rwkv.Onnx.Export;

/// <summary>How int8/int4 export rounds each block of weights to its codes (<see cref="ExportOptions.BlockRounding"/>).</summary>
public enum BlockRounding
{
    /// <summary>Symmetric, scale max|w| / (2^(bits−1) − 1): the block's largest magnitude is exact. Codes ±7 (int4), ±127 (int8).</summary>
    AbsMax,

    /// <summary>
    /// Symmetric, with the scale that minimises the block's squared error over a grid of candidate roundings (llama.cpp's
    /// make_qx_quants; no calibration data), and the extra negative code (−8, −128) in use.
    /// </summary>
    Search,

    /// <summary>Asymmetric: each block's [min, max] spread over all 2^bits codes, with a uint8 zero point per block.</summary>
    ZeroPoint,

    /// <summary>Asymmetric as <see cref="ZeroPoint"/>, with the scale searched as in <see cref="Search"/> and refitted by least squares.</summary>
    ZeroPointSearch,
}
