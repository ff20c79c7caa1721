namespace Rwkv.Onnx.Export.Graph;

/// <summary>ONNX tensor element types we emit (values are TensorProto.DataType).</summary>
internal enum ElementType
{
    Float = 1,
    UInt8 = 2,
    Int64 = 7,
    Float16 = 10,
}
