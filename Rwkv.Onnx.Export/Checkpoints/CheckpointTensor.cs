namespace Rwkv.Onnx.Export.Checkpoints;

/// <summary>
/// One named tensor of a checkpoint. Holds only its description; the data is read on demand, so a
/// reader over a multi-GB file costs almost no memory until a tensor is read.
/// </summary>
public abstract class CheckpointTensor
{
    /// <summary>Creates a tensor description.</summary>
    /// <param name="name">Name in the checkpoint, e.g. <c>blocks.0.att.key.weight</c>.</param>
    /// <param name="dtype">Storage type.</param>
    /// <param name="shape">Shape in PyTorch order (outermost first).</param>
    protected CheckpointTensor(string name, TensorDType dtype, long[] shape)
    {
        Name = name;
        DType = dtype;
        Shape = shape;
        long count = 1;
        foreach (long d in shape)
        {
            count = checked(count * d);
        }
        ElementCount = count;
    }

    /// <summary>Name in the checkpoint.</summary>
    public string Name { get; }

    /// <summary>Storage type.</summary>
    public TensorDType DType { get; }

    /// <summary>Shape in PyTorch order (outermost first).</summary>
    public IReadOnlyList<long> Shape { get; }

    /// <summary>Number of elements.</summary>
    public long ElementCount { get; }

    /// <summary>Reads every element, converted to float32, row-major, into <paramref name="destination"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is not exactly <see cref="ElementCount"/> long.</exception>
    /// <exception cref="CheckpointFormatException">The data cannot be read.</exception>
    public void ReadFloat32(Span<float> destination)
    {
        if (destination.Length != ElementCount)
        {
            throw new ArgumentException(
                $"Tensor '{Name}' has {ElementCount} elements; the destination holds {destination.Length}.", nameof(destination));
        }
        Validate();
        ReadCore(destination);
    }

    /// <summary>Reads every element into a new float32 array.</summary>
    public float[] ReadFloat32()
    {
        if (ElementCount > Array.MaxLength)
        {
            throw new CheckpointFormatException(null, Name, $"Tensor '{Name}' has {ElementCount} elements, more than one array can hold.");
        }
        Validate();
        var data = new float[ElementCount];
        ReadCore(data);
        return data;
    }

    /// <summary>
    /// Checks, before a buffer of <see cref="ElementCount"/> floats is allocated, that the data behind the tensor
    /// really exists (e.g. that a compressed entry inflates to its declared size). Does nothing by default.
    /// </summary>
    /// <exception cref="CheckpointFormatException">The data is shorter than declared or corrupt.</exception>
    protected internal virtual void Validate()
    {
    }

    /// <summary>Shape as text, e.g. <c>[768, 768]</c>, for messages.</summary>
    public string ShapeText => FormatShape(Shape);

    /// <summary>Formats a shape for messages, e.g. <c>[768, 768]</c>.</summary>
    public static string FormatShape(IEnumerable<long> shape) => "[" + string.Join(", ", shape) + "]";

    /// <summary>Reads every element into a destination of exactly <see cref="ElementCount"/> floats.</summary>
    protected abstract void ReadCore(Span<float> destination);

    /// <inheritdoc/>
    public override string ToString() => $"{Name} {DType} {ShapeText}";
}
