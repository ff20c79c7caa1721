namespace Rwkv.Onnx.Export;

/// <summary>Storage type of exported weight matrices. Vectors, state and arithmetic stay float32.</summary>
public enum WeightDType
{
    /// <summary>IEEE binary32.</summary>
    Float32,

    /// <summary>IEEE binary16: half the size on disk; converted to float32 when the session loads.</summary>
    Float16,

    /// <summary>
    /// Linear layers block-quantized to 8 bits (symmetric, one float32 scale per <see cref="ExportOptions.BlockSize"/>
    /// weights) and run by ONNX Runtime's <c>MatMulNBits</c>; other matrices float32. Needs ONNX Runtime's contrib ops.
    /// </summary>
    Int8,

    /// <summary>As <see cref="Int8"/> with 4-bit codes: about an eighth of float32's size for the linear layers.</summary>
    Int4,
}
