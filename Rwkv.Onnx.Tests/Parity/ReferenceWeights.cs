using Rwkv.Onnx.Export.Checkpoints;

namespace Rwkv.Onnx.Tests.Parity;

/// <summary>Reads a reference model's canonical tensors, checking each shape.</summary>
internal sealed class ReferenceWeights(RwkvCheckpoint checkpoint)
{
    public bool Has(string name) => checkpoint.Find(name) is not null;

    public float[] Read(string name, params long[] shape)
    {
        CheckpointTensor tensor = checkpoint.Get(name);
        if (!tensor.Shape.SequenceEqual(shape))
        {
            throw new CheckpointFormatException(checkpoint.Path, name,
                $"Tensor '{name}' has shape {tensor.ShapeText}; expected {CheckpointTensor.FormatShape(shape)}.");
        }
        return tensor.ReadFloat32();
    }

    /// <summary>A LoRA down-projection <c>[C, D]</c>, whatever its rank D.</summary>
    public float[] ReadLora(string name, int c) => Read(name, c, checkpoint.Get(name).Shape[^1]);
}
