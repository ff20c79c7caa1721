namespace Rwkv.Onnx.Export.Checkpoints;

/// <summary>A tensor computed lazily from other tensors (a split, a transpose) when it is read.</summary>
internal sealed class DerivedTensor : CheckpointTensor
{
    private readonly Action<Span<float>> _read;
    private readonly CheckpointTensor? _source;

    /// <summary>Creates the tensor; <paramref name="source"/>, if given, is validated before a buffer for this one is allocated.</summary>
    public DerivedTensor(string name, TensorDType dtype, long[] shape, Action<Span<float>> read, CheckpointTensor? source = null)
        : base(name, dtype, shape)
    {
        _read = read;
        _source = source;
    }

    protected internal override void Validate() => _source?.Validate();

    protected override void ReadCore(Span<float> destination) => _read(destination);

    /// <summary><paramref name="source"/> under another name: same dtype, shape and elements.</summary>
    public static DerivedTensor Rename(CheckpointTensor source, string name) =>
        new(name, source.DType, [.. source.Shape], source.ReadFloat32, source);

    /// <summary>A view of <paramref name="source"/> with a different shape and the same elements.</summary>
    public static DerivedTensor Reshape(CheckpointTensor source, string name, long[] shape) =>
        new(name, source.DType, shape, source.ReadFloat32, source);

    /// <summary>The 2-D transpose of <paramref name="source"/> ([a, b] becomes [b, a]).</summary>
    public static DerivedTensor Transpose2D(CheckpointTensor source, string name)
    {
        long rows = source.Shape[0], cols = source.Shape[1];
        return new DerivedTensor(name, source.DType, [cols, rows], destination =>
        {
            float[] data = source.ReadFloat32();
            for (long i = 0; i < rows; i++)
            {
                for (long j = 0; j < cols; j++)
                {
                    destination[(int)(j * rows + i)] = data[i * cols + j];
                }
            }
        }, source);
    }

    /// <summary>Elements <c>[offset, offset + count)</c> of <paramref name="source"/>, with a new shape.</summary>
    public static DerivedTensor Slice(CheckpointTensor source, string name, long offset, long[] shape)
    {
        long count = 1;
        foreach (long d in shape)
        {
            count *= d;
        }
        return new DerivedTensor(name, source.DType, shape,
            destination => source.ReadFloat32().AsSpan((int)offset, (int)count).CopyTo(destination), source);
    }
}
