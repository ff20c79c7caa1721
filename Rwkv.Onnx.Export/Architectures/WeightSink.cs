using Rwkv.Onnx.Export.Checkpoints;
using Rwkv.Onnx.Export.Graph;

namespace Rwkv.Onnx.Export.Architectures;

/// <summary>
/// Where <see cref="RwkvArchitecture.PrepareWeights"/> puts prepared tensors: vectors stay float32,
/// matrices take the export's weight dtype. Reports progress and honours cancellation per tensor.
/// </summary>
internal sealed class WeightSink(ExternalWeights weights, ElementType matrixType, int total, IProgress<ExportProgress>? progress, CancellationToken cancellationToken)
{
    private int _done;

    /// <summary>Writes <paramref name="data"/> as <paramref name="name"/> with <paramref name="shape"/>.</summary>
    public void Add(string name, float[] data, params long[] shape)
    {
        cancellationToken.ThrowIfCancellationRequested();
        weights.Add(name, data, shape, shape.Length >= 2 ? matrixType : ElementType.Float);
        progress?.Report(new ExportProgress("weights", ++_done, total));
    }

    /// <summary>Writes a checkpoint tensor unchanged in value, flattened to a vector.</summary>
    public void Vector(CheckpointTensor t, string? name = null) => Add(name ?? t.Name, t.ReadFloat32(), t.ElementCount);

    /// <summary>Writes a PyTorch [out, in] matrix transposed to [in, out], the layout MatMul wants.</summary>
    public void Transposed(CheckpointTensor t) => Add(t.Name, Transpose(t.ReadFloat32(), (int)t.Shape[0], (int)t.Shape[1]), t.Shape[1], t.Shape[0]);

    /// <summary>Writes a 2-D matrix as it is.</summary>
    public void Matrix(CheckpointTensor t) => Add(t.Name, t.ReadFloat32(), t.Shape[0], t.Shape[1]);

    private static float[] Transpose(float[] m, int rows, int cols)
    {
        var t = new float[m.Length];
        for (int i = 0; i < rows; i++)
        {
            for (int j = 0; j < cols; j++)
            {
                t[j * rows + i] = m[i * cols + j];
            }
        }
        return t;
    }
}
