namespace Rwkv.Onnx.Export.Triton;

/// <summary>One <c>sequence_batching.state</c> entry: a past/present pair of the step graph and how a sequence starts it.</summary>
/// <param name="Info">The manifest's state tensor (slot, layer, names, shape, layout, initial value).</param>
/// <param name="DataType">Triton's data type of both tensors.</param>
/// <param name="Dims">Dimensions without the batch, as the graph declares them.</param>
/// <param name="InitialFile">
/// The file under <c>initial_state/</c> holding the start value (row-major, little-endian), or null when the state starts at zero.
/// </param>
internal sealed record TritonStateEntry(RwkvStateTensorInfo Info, string DataType, IReadOnlyList<long> Dims, string? InitialFile);
