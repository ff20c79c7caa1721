namespace Rwkv.Onnx.Export.Triton;

/// <summary>Triton's <c>DataType</c> names (model_config.proto) for ONNX tensor element types.</summary>
internal static class TritonDataType
{
    /// <summary>The Triton name of ONNX element type <paramref name="onnxElementType"/> (<c>TensorProto.DataType</c>), or null when Triton has none.</summary>
    public static string? FromOnnx(int onnxElementType) => onnxElementType switch
    {
        1 => "TYPE_FP32",
        2 => "TYPE_UINT8",
        3 => "TYPE_INT8",
        4 => "TYPE_UINT16",
        5 => "TYPE_INT16",
        6 => "TYPE_INT32",
        7 => "TYPE_INT64",
        8 => "TYPE_STRING",
        9 => "TYPE_BOOL",
        10 => "TYPE_FP16",
        11 => "TYPE_FP64",
        12 => "TYPE_UINT32",
        13 => "TYPE_UINT64",
        16 => "TYPE_BF16",
        _ => null,
    };
}
