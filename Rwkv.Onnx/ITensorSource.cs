namespace Rwkv.Onnx;

/// <summary>
/// Named float32 tensors, such as the <c>blocks.{i}.att.time_state</c> tensors of a state-tuning checkpoint, for
/// <see cref="RwkvState.FromTimeState"/>. The exporter's checkpoint readers (e.g. for RWKV-PEFT's <c>.pth</c> files)
/// provide one; tests and other formats can implement it over a dictionary.
/// </summary>
public interface ITensorSource
{
    /// <summary>What the tensors come from, for messages (e.g. a file path).</summary>
    string Description { get; }

    /// <summary>Looks a tensor up by name.</summary>
    /// <param name="name">The tensor name, e.g. <c>blocks.3.att.time_state</c>.</param>
    /// <param name="shape">The shape, in PyTorch order; empty when the tensor is missing.</param>
    /// <param name="data">The elements, row-major, as float32; empty when the tensor is missing.</param>
    /// <returns>True when the tensor exists.</returns>
    bool TryGetTensor(string name, out IReadOnlyList<int> shape, out float[] data);
}
