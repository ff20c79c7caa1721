namespace Rwkv.Onnx.Export.Quantization;

/// <summary>
/// Symmetric per-block weight quantization in ONNX Runtime's <c>MatMulNBits</c> layout: a [N, K] weight
/// (PyTorch's [out, in]) becomes codes uint8 [N, ⌈K/block⌉, block·bits/8] packed low bits first along K,
/// and scales float [N·⌈K/block⌉]. A code q stands for (q − 2^(bits−1))·scale, the op's default zero point.
/// </summary>
internal static class BlockQuantizer
{
    /// <summary>Bytes of packed codes per block.</summary>
    public static int BlobSize(int blockSize, int bits) => blockSize * bits / 8;

    /// <summary>Number of blocks along K; a partial last block is padded with zeros.</summary>
    public static int BlockCount(int k, int blockSize) => (k + blockSize - 1) / blockSize;

    /// <summary>
    /// Quantizes the row-major [<paramref name="n"/>, <paramref name="k"/>] <paramref name="weight"/>.
    /// Each block's scale is max|w| / (2^(bits−1) − 1), so the block's largest magnitude is exact and codes
    /// stay in [1, 2^bits − 1]; values already on a block's grid come back unchanged.
    /// </summary>
    public static (byte[] Codes, float[] Scales) Quantize(ReadOnlySpan<float> weight, int n, int k, int blockSize, int bits)
    {
        CheckBits(bits);
        if (weight.Length != (long)n * k)
        {
            throw new ArgumentException($"The weight has {weight.Length} values; expected {n} × {k}.", nameof(weight));
        }
        int blocks = BlockCount(k, blockSize), blob = BlobSize(blockSize, bits);
        int zero = 1 << (bits - 1), maxCode = (1 << bits) - 1;
        var codes = new byte[(long)n * blocks * blob];
        var scales = new float[n * blocks];
        Span<byte> block = stackalloc byte[blockSize];
        for (int row = 0; row < n; row++)
        {
            for (int b = 0; b < blocks; b++)
            {
                int start = b * blockSize, count = Math.Min(blockSize, k - start);
                ReadOnlySpan<float> w = weight.Slice(row * k + start, count);
                float absMax = 0;
                foreach (float v in w)
                {
                    absMax = MathF.Max(absMax, MathF.Abs(v));
                }
                float scale = absMax / (zero - 1);
                block.Fill((byte)zero);
                for (int i = 0; i < count; i++)
                {
                    // Division, not multiplication by 1/scale, so that q·scale / scale gives q back exactly.
                    int q = scale == 0 ? 0 : (int)MathF.Round(w[i] / scale, MidpointRounding.ToEven);
                    block[i] = (byte)Math.Clamp(q + zero, 0, maxCode);
                }
                scales[row * blocks + b] = scale;
                Pack(block, bits, codes.AsSpan((row * blocks + b) * blob, blob));
            }
        }
        return (codes, scales);
    }

    /// <summary>The row-major [n, k] weight that <paramref name="codes"/> and <paramref name="scales"/> stand for.</summary>
    public static float[] Dequantize(ReadOnlySpan<byte> codes, ReadOnlySpan<float> scales, int n, int k, int blockSize, int bits)
    {
        CheckBits(bits);
        int blocks = BlockCount(k, blockSize), blob = BlobSize(blockSize, bits), zero = 1 << (bits - 1);
        var weight = new float[(long)n * k];
        Span<byte> block = stackalloc byte[blockSize];
        for (int row = 0; row < n; row++)
        {
            for (int b = 0; b < blocks; b++)
            {
                Unpack(codes.Slice((row * blocks + b) * blob, blob), bits, block);
                float scale = scales[row * blocks + b];
                int start = b * blockSize, count = Math.Min(blockSize, k - start);
                for (int i = 0; i < count; i++)
                {
                    weight[row * k + start + i] = (block[i] - zero) * scale;
                }
            }
        }
        return weight;
    }

    /// <summary>Packs codes of <paramref name="bits"/> bits, the first code in the low bits of the first byte.</summary>
    public static void Pack(ReadOnlySpan<byte> values, int bits, Span<byte> packed)
    {
        CheckBits(bits);
        if (bits == 8)
        {
            values.CopyTo(packed);
            return;
        }
        for (int i = 0; i < packed.Length; i++)
        {
            packed[i] = (byte)((values[2 * i] & 0x0F) | (values[2 * i + 1] << 4));
        }
    }

    /// <summary>The inverse of <see cref="Pack"/>.</summary>
    public static void Unpack(ReadOnlySpan<byte> packed, int bits, Span<byte> values)
    {
        CheckBits(bits);
        if (bits == 8)
        {
            packed.CopyTo(values);
            return;
        }
        for (int i = 0; i < packed.Length; i++)
        {
            values[2 * i] = (byte)(packed[i] & 0x0F);
            values[2 * i + 1] = (byte)(packed[i] >> 4);
        }
    }

    private static void CheckBits(int bits)
    {
        if (bits is not (4 or 8))
        {
            throw new ArgumentOutOfRangeException(nameof(bits), bits, $"Block quantization supports 4 or 8 bits, not {bits}.");
        }
    }
}
