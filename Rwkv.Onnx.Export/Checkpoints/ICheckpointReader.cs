namespace Rwkv.Onnx.Export.Checkpoints;

/// <summary>
/// Enumerates and opens the tensors of a checkpoint file. Implementations keep the file open and read
/// tensor data lazily; dispose the reader when done.
/// </summary>
public interface ICheckpointReader : IDisposable
{
    /// <summary>The checkpoint file.</summary>
    string Path { get; }

    /// <summary>Short format name, e.g. <c>rwkv.cpp</c>.</summary>
    string Format { get; }

    /// <summary>The files tensor data is read from: <see cref="Path"/> itself unless the checkpoint is split over shards.</summary>
    IReadOnlyList<string> Files => [Path];

    /// <summary>Tensors in file order.</summary>
    IReadOnlyList<CheckpointTensor> Tensors { get; }
}
