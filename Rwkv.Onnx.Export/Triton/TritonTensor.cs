namespace Rwkv.Onnx.Export.Triton;

/// <summary>A request input or response output of the served graph, as Triton sees it.</summary>
/// <param name="Name">The graph's tensor name.</param>
/// <param name="DataType">Triton's data type.</param>
/// <param name="Dims">Dimensions without the batch; a tensor that is only the batch (<c>tokens</c> <c>[batch]</c>) is <c>[1]</c> reshaped to <c>[]</c>.</param>
/// <param name="ReshapedToBatchOnly">Whether <paramref name="Dims"/> is that <c>[1]</c>.</param>
internal sealed record TritonTensor(string Name, string DataType, IReadOnlyList<long> Dims, bool ReshapedToBatchOnly);
