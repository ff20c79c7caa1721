using System.Buffers;
using System.Runtime.InteropServices;

namespace Rwkv.Onnx.Export.Checkpoints;

/// <summary>
/// A tensor that views a storage of fp32, fp16 or bf16 elements with an element offset and strides,
/// as PyTorch tensors do (safetensors tensors are the contiguous case). Reads decode chunk by chunk;
/// a non-contiguous view is gathered through a bounded window that follows the storage in address order.
/// </summary>
internal sealed class StridedTensor : CheckpointTensor
{
    private const int ChunkElements = 1 << 16;
    private readonly ByteRegion _storage;
    private readonly long _storageOffset;
    private readonly long[] _strides;
    private readonly int _elementSize;

    /// <summary>Creates the view. The caller has checked that every element lies inside <paramref name="storage"/>.</summary>
    public StridedTensor(string name, TensorDType dtype, long[] shape, ByteRegion storage, long storageOffset, long[] strides)
        : base(name, dtype, shape)
    {
        _storage = storage;
        _storageOffset = storageOffset;
        _strides = strides;
        _elementSize = TensorDecoding.ElementSize(dtype);
    }

    /// <summary>Row-major (C-contiguous) strides of <paramref name="shape"/>.</summary>
    public static long[] ContiguousStrides(IReadOnlyList<long> shape)
    {
        var strides = new long[shape.Count];
        long stride = 1;
        for (int i = shape.Count - 1; i >= 0; i--)
        {
            strides[i] = stride;
            stride *= Math.Max(shape[i], 1);
        }
        return strides;
    }

    /// <summary>True when the elements are stored row-major with no gaps.</summary>
    public bool IsContiguous
    {
        get
        {
            long expected = 1;
            for (int i = Shape.Count - 1; i >= 0; i--)
            {
                if (Shape[i] != 1 && _strides[i] != expected)
                {
                    return false;
                }
                expected *= Shape[i];
            }
            return true;
        }
    }

    protected internal override void Validate() => _storage.Validate(Name);

    protected override void ReadCore(Span<float> destination)
    {
        if (destination.IsEmpty)
        {
            return;
        }
        if (IsContiguous)
        {
            ReadRun(_storageOffset, destination);
        }
        else
        {
            Gather(destination);
        }
    }

    // Elements [first, first + destination.Length) of the storage, decoded in chunks.
    private void ReadRun(long first, Span<float> destination)
    {
        if (DType == TensorDType.Float32 && BitConverter.IsLittleEndian)
        {
            _storage.Read(first * 4, MemoryMarshal.AsBytes(destination), Name);
            return;
        }
        byte[] buffer = ArrayPool<byte>.Shared.Rent(Math.Min(destination.Length, ChunkElements) * _elementSize);
        try
        {
            for (int start = 0; start < destination.Length; start += ChunkElements)
            {
                int count = Math.Min(ChunkElements, destination.Length - start);
                Span<byte> bytes = buffer.AsSpan(0, count * _elementSize);
                _storage.Read((first + start) * _elementSize, bytes, Name);
                TensorDecoding.Decode(bytes, DType, destination.Slice(start, count));
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    // Visits the elements in storage-address order (dimensions sorted by decreasing stride) and copies
    // each to its row-major position, refilling a window of the storage whenever an address leaves it.
    private void Gather(Span<float> destination)
    {
        int rank = Shape.Count;
        int[] order = [.. Enumerable.Range(0, rank).OrderByDescending(d => _strides[d]).ThenBy(d => d)];
        long[] outStrides = ContiguousStrides(Shape);
        long storageElements = _storage.Length / _elementSize;
        int inner = order[^1];
        long innerSize = Shape[inner], innerStride = _strides[inner], innerOut = outStrides[inner];

        float[] window = ArrayPool<float>.Shared.Rent(ChunkElements);
        byte[] bytes = ArrayPool<byte>.Shared.Rent(ChunkElements * _elementSize);
        long windowStart = 0, windowCount = 0;
        var index = new long[rank];
        try
        {
            long source = _storageOffset, target = 0;
            while (true)
            {
                for (long j = 0; j < innerSize; j++)
                {
                    long s = source + (j * innerStride);
                    if (s < windowStart || s >= windowStart + windowCount)
                    {
                        windowStart = s;
                        windowCount = Math.Min(ChunkElements, storageElements - s);
                        Span<byte> raw = bytes.AsSpan(0, (int)windowCount * _elementSize);
                        _storage.Read(s * _elementSize, raw, Name);
                        TensorDecoding.Decode(raw, DType, window.AsSpan(0, (int)windowCount));
                    }
                    destination[(int)(target + (j * innerOut))] = window[s - windowStart];
                }
                // Odometer over the outer dimensions, innermost of them first.
                int k = rank - 2;
                for (; k >= 0; k--)
                {
                    int d = order[k];
                    if (++index[d] < Shape[d])
                    {
                        source += _strides[d];
                        target += outStrides[d];
                        break;
                    }
                    source -= _strides[d] * (Shape[d] - 1);
                    target -= outStrides[d] * (Shape[d] - 1);
                    index[d] = 0;
                }
                if (k < 0)
                {
                    return;
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(window);
            ArrayPool<byte>.Shared.Return(bytes);
        }
    }
}
