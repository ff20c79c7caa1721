using Rwkv.Onnx.Export.Checkpoints;

namespace Rwkv.Onnx.Tests.Fixtures;

/// <summary>Compares two checkpoints' canonical tensors: names, shapes and values.</summary>
internal static class CanonicalAssert
{
    /// <summary>
    /// Asserts that <paramref name="actual"/> has exactly the tensors of <paramref name="expected"/>, with equal shapes,
    /// and values equal to the expected values rounded to each actual tensor's storage type (fp16: nearest even; bf16:
    /// nearest even; fp32: unchanged), i.e. exactly what a lossless reader of the rounded file must return.
    /// </summary>
    public static void SameTensors(RwkvCheckpoint actual, RwkvCheckpoint expected)
    {
        Assert.That(actual.Tensors.Keys, Is.EquivalentTo(expected.Tensors.Keys), "tensor names");
        using (Assert.EnterMultipleScope())
        {
            foreach ((string name, CheckpointTensor tensor) in expected.Tensors)
            {
                CheckpointTensor read = actual.Get(name);
                Assert.That(read.Shape, Is.EqualTo(tensor.Shape), $"shape of {name}");
                float[] values = tensor.ReadFloat32();
                Func<float, float> round = read.DType switch
                {
                    TensorDType.Float16 => v => (float)(Half)v,
                    TensorDType.BFloat16 => TorchZipWriter.RoundToBFloat16,
                    _ => v => v,
                };
                Assert.That(read.ReadFloat32(), Is.EqualTo(Array.ConvertAll(values, round.Invoke)), name);
            }
        }
    }
}
