using System.Runtime.InteropServices;

namespace Rwkv.Onnx.Export.Graph;

/// <summary>Where one weight lives in the shared external-data file.</summary>
internal readonly record struct ExternalWeight(string Name, ElementType Type, long[] Shape, long Offset, long Length);

/// <summary>
/// A linear layer's weight stored block-quantized for <c>MatMulNBits</c>: codes in <see cref="CodesName"/>
/// (uint8 [N, K/block, block·bits/8]), scales in <see cref="ScalesName"/> (float [N·K/block]) and, for asymmetric
/// blocks, zero points in <see cref="ZeroPointsName"/> (uint8 [N·⌈(K/block)·bits/8⌉]; null: the default 2^(bits−1)).
/// </summary>
internal readonly record struct QuantizedWeight(string CodesName, string ScalesName, int K, int N, int Bits, int BlockSize, int AccuracyLevel,
    string? ZeroPointsName = null);

/// <summary>
/// A float32 linear weight [K, N] whose matmul reproduces ggml's kernel for a quantized weight
/// (<see cref="ExportOptions.EmulatedArithmetic"/>): the activations are rounded to q8_0 blocks first, or to q8_1 blocks
/// when the weight's per-block minimums [K/32, N] are in <see cref="MinimumsName"/> (Q5_1; the weight then holds d·q alone).
/// </summary>
internal readonly record struct GgmlEmulatedWeight(int K, string? MinimumsName = null);

/// <summary>
/// Streams prepared weights into the one external-data file that every graph references, so each
/// weight is stored once and never held in memory after it is written. Offsets of large tensors are
/// page-aligned so ONNX Runtime can map them instead of copying.
/// </summary>
internal sealed class ExternalWeights : IDisposable
{
    private const int PageAlignment = 4096;
    private const int SmallAlignment = 64;
    private readonly FileStream _stream;
    private readonly Dictionary<string, ExternalWeight> _weights = new(StringComparer.Ordinal);
    private readonly Dictionary<string, QuantizedWeight> _quantized = new(StringComparer.Ordinal);
    private readonly Dictionary<string, GgmlEmulatedWeight> _emulated = new(StringComparer.Ordinal);

    public ExternalWeights(string path)
    {
        FileName = Path.GetFileName(path);
        _stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20);
    }

    /// <summary>File name recorded in each initializer's <c>location</c>, relative to the graph file.</summary>
    public string FileName { get; }

    public long Length => _stream.Length;

    public IReadOnlyCollection<ExternalWeight> All => _weights.Values;

    /// <summary>Appends a weight, converted to <paramref name="type"/> (float32 or float16).</summary>
    public void Add(string name, ReadOnlySpan<float> data, long[] shape, ElementType type)
    {
        if (_weights.ContainsKey(name))
        {
            throw new InvalidOperationException($"Weight '{name}' is written twice.");
        }
        long count = shape.Aggregate(1L, (a, b) => a * b);
        if (count != data.Length)
        {
            throw new InvalidOperationException($"Weight '{name}' has {data.Length} values for shape [{string.Join(", ", shape)}].");
        }
        long offset = Align(data.Length * (type == ElementType.Float ? 4L : 2L));
        if (type == ElementType.Float)
        {
            _stream.Write(MemoryMarshal.AsBytes(data));
        }
        else
        {
            WriteHalf(data);
        }
        _weights.Add(name, new ExternalWeight(name, type, shape, offset, _stream.Position - offset));
    }

    /// <summary>
    /// Appends the linear weight <paramref name="name"/> block-quantized: its codes as <c>{name}_Q{bits}</c>,
    /// its scales as <c>{name}_scales</c> and any zero points as <c>{name}_zero_points</c>; graphs find them
    /// through <see cref="TryGetQuantized"/>.
    /// </summary>
    public void AddQuantized(string name, byte[] codes, float[] scales, int k, int n, int bits, int blockSize, int accuracyLevel, byte[]? zeroPoints = null)
    {
        var q = new QuantizedWeight($"{name}_Q{bits}", $"{name}_scales", k, n, bits, blockSize, accuracyLevel,
            zeroPoints is null ? null : $"{name}_zero_points");
        if (_weights.ContainsKey(name) || !_quantized.TryAdd(name, q))
        {
            throw new InvalidOperationException($"Weight '{name}' is written twice.");
        }
        int blocks = codes.Length / n / (blockSize * bits / 8);
        long offset = Align(codes.Length);
        _stream.Write(codes);
        _weights.Add(q.CodesName, new ExternalWeight(q.CodesName, ElementType.UInt8, [n, blocks, blockSize * bits / 8], offset, codes.Length));
        Add(q.ScalesName, scales, [scales.Length], ElementType.Float);
        if (zeroPoints is not null)
        {
            long zeroOffset = Align(zeroPoints.Length);
            _stream.Write(zeroPoints);
            _weights.Add(q.ZeroPointsName!, new ExternalWeight(q.ZeroPointsName!, ElementType.UInt8, [zeroPoints.Length], zeroOffset, zeroPoints.Length));
        }
    }

    /// <summary>The quantized form of the linear weight <paramref name="name"/>, if it was stored quantized.</summary>
    public bool TryGetQuantized(string name, out QuantizedWeight weight) => _quantized.TryGetValue(name, out weight);

    /// <summary>
    /// Appends the float32 linear weight <paramref name="name"/> ([k, n]) whose matmuls emulate ggml's kernel, with the
    /// per-block minimums of a Q5_1 weight ([k/32, n]) as <c>{name}_minimums</c>; graphs find them through
    /// <see cref="TryGetGgmlEmulated"/>.
    /// </summary>
    public void AddGgmlEmulated(string name, float[] weight, float[]? minimums, int k, int n)
    {
        var e = new GgmlEmulatedWeight(k, minimums is null ? null : $"{name}_minimums");
        if (_weights.ContainsKey(name) || !_emulated.TryAdd(name, e))
        {
            throw new InvalidOperationException($"Weight '{name}' is written twice.");
        }
        Add(name, weight, [k, n], ElementType.Float);
        if (minimums is not null)
        {
            Add(e.MinimumsName!, minimums, [k / 32, n], ElementType.Float);
        }
    }

    /// <summary>The ggml emulation of the linear weight <paramref name="name"/>, if it was stored for one.</summary>
    public bool TryGetGgmlEmulated(string name, out GgmlEmulatedWeight weight) => _emulated.TryGetValue(name, out weight);

    private long Align(long length)
    {
        int alignment = length >= PageAlignment ? PageAlignment : SmallAlignment;
        long offset = (_stream.Position + alignment - 1) / alignment * alignment;
        _stream.Write(new byte[offset - _stream.Position]);
        return offset;
    }

    public ExternalWeight Get(string name) =>
        _weights.TryGetValue(name, out ExternalWeight w)
            ? w
            : throw new InvalidOperationException($"Weight '{name}' was never prepared; the architecture reads a tensor it did not write.");

    private void WriteHalf(ReadOnlySpan<float> data)
    {
        const int Chunk = 1 << 16;
        var buffer = new Half[Math.Min(Chunk, data.Length)];
        for (int start = 0; start < data.Length; start += Chunk)
        {
            int n = Math.Min(Chunk, data.Length - start);
            for (int i = 0; i < n; i++)
            {
                buffer[i] = (Half)data[start + i];
            }
            _stream.Write(MemoryMarshal.AsBytes(buffer.AsSpan(0, n)));
        }
    }

    public void Dispose() => _stream.Dispose();
}
