namespace Rwkv.Onnx.Export.Triton;

/// <summary>One graph input or output as the ONNX file declares it: name, element type and dimensions (-1 for a symbolic one).</summary>
/// <param name="Name">The tensor name.</param>
/// <param name="ElementType">ONNX <c>TensorProto.DataType</c> value (1 float, 7 int64, ...).</param>
/// <param name="Dims">Each dimension: its size, or -1 when it is symbolic (<c>dim_param</c>) or unknown.</param>
internal sealed record GraphTensor(string Name, int ElementType, IReadOnlyList<long> Dims);
