namespace Rwkv.Onnx.Export;

/// <summary>Storage type of exported weight matrices. Vectors, state, the recurrence and the norms stay float32.</summary>
public enum WeightDType
{
    /// <summary>IEEE binary32.</summary>
    Float32,

    /// <summary>
    /// IEEE binary16: half the size on disk. Linear layers run as float16 MatMuls (float16 GEMMs on GPUs; the CPU provider
    /// converts the weights to float32 at load); residual stream, state, recurrence and norms stay float32.
    /// </summary>
    Float16,

    /// <summary>
    /// Linear layers block-quantized to 8 bits (symmetric, one float32 scale per <see cref="ExportOptions.BlockSize"/>
    /// weights) and run by ONNX Runtime's <c>MatMulNBits</c>; other matrices float32. Needs ONNX Runtime's contrib ops.
    /// </summary>
    Int8,

    /// <summary>As <see cref="Int8"/> with 4-bit codes: about an eighth of float32's size for the linear layers.</summary>
    Int4,
}
