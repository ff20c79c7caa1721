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

    /// <summary>
    /// Quantizes the row-major [<paramref name="n"/>, <paramref name="k"/>] <paramref name="weight"/> with the
    /// rounding of <paramref name="rounding"/>: symmetric blocks use the default zero point 2^(bits−1), asymmetric
    /// ones get their own zero point per block (<see cref="BlockQuantized.ZeroPoints"/>).
    /// </summary>
    public static BlockQuantized Quantize(ReadOnlySpan<float> weight, int n, int k, int blockSize, int bits, BlockRounding rounding)
    {
        CheckBits(bits);
        if (weight.Length != (long)n * k)
        {
            throw new ArgumentException($"The weight has {weight.Length} values; expected {n} × {k}.", nameof(weight));
        }
        if (rounding == BlockRounding.AbsMax)
        {
            (byte[] c, float[] s) = Quantize(weight, n, k, blockSize, bits);
            return new BlockQuantized(c, s, null);
        }
        int blocks = BlockCount(k, blockSize), blob = BlobSize(blockSize, bits);
        bool asymmetric = rounding is BlockRounding.ZeroPoint or BlockRounding.ZeroPointSearch;
        bool search = rounding is BlockRounding.Search or BlockRounding.ZeroPointSearch;
        var codes = new byte[(long)n * blocks * blob];
        var scales = new float[n * blocks];
        byte[]? zeroPoints = asymmetric ? new byte[n * ZeroPointBytesPerRow(blocks, bits)] : null;
        Span<byte> block = stackalloc byte[blockSize];
        Span<byte> trial = stackalloc byte[blockSize];
        for (int row = 0; row < n; row++)
        {
            for (int b = 0; b < blocks; b++)
            {
                int start = b * blockSize, count = Math.Min(blockSize, k - start);
                ReadOnlySpan<float> w = weight.Slice(row * k + start, count);
                block.Fill((byte)(1 << (bits - 1)));
                float scale;
                if (asymmetric)
                {
                    int zero;
                    (scale, zero) = RoundAsymmetric(w, bits, search, block, trial);
                    block[count..].Fill((byte)zero);
                    SetZeroPoint(zeroPoints!, row, b, blocks, bits, zero);
                }
                else
                {
                    scale = RoundSymmetricSearch(w, bits, block, trial);
                }
                scales[row * blocks + b] = scale;
                Pack(block, bits, codes.AsSpan((row * blocks + b) * blob, blob));
            }
        }
        return new BlockQuantized(codes, scales, zeroPoints);
    }

    /// <summary>
    /// The row-major [n, k] weight that <paramref name="q"/> stands for: (code − zero point) · scale, the zero point
    /// 2^(bits−1) for symmetric blocks.
    /// </summary>
    public static float[] Dequantize(BlockQuantized q, int n, int k, int blockSize, int bits)
    {
        if (q.ZeroPoints is null)
        {
            return Dequantize(q.Codes, q.Scales, n, k, blockSize, bits);
        }
        CheckBits(bits);
        int blocks = BlockCount(k, blockSize), blob = BlobSize(blockSize, bits);
        var weight = new float[(long)n * k];
        Span<byte> block = stackalloc byte[blockSize];
        for (int row = 0; row < n; row++)
        {
            for (int b = 0; b < blocks; b++)
            {
                Unpack(q.Codes.AsSpan((row * blocks + b) * blob, blob), bits, block);
                float scale = q.Scales[row * blocks + b];
                int zero = GetZeroPoint(q.ZeroPoints, row, b, blocks, bits);
                int start = b * blockSize, count = Math.Min(blockSize, k - start);
                for (int i = 0; i < count; i++)
                {
                    weight[row * k + start + i] = (block[i] - zero) * scale;
                }
            }
        }
        return weight;
    }

    /// <summary>
    /// Bytes of zero points per row of N in MatMulNBits's layout: one byte per block for 8 bits, two blocks per
    /// byte (low nibble first) for 4 bits, each row padded to whole bytes.
    /// </summary>
    public static int ZeroPointBytesPerRow(int blocks, int bits) => (blocks * bits + 7) / 8;

    private static void SetZeroPoint(byte[] zeroPoints, int row, int block, int blocks, int bits, int zero)
    {
        int offset = row * ZeroPointBytesPerRow(blocks, bits);
        if (bits == 8)
        {
            zeroPoints[offset + block] = (byte)zero;
            return;
        }
        ref byte packed = ref zeroPoints[offset + (block / 2)];
        packed = block % 2 == 0 ? (byte)((packed & 0xF0) | zero) : (byte)((packed & 0x0F) | (zero << 4));
    }

    private static int GetZeroPoint(byte[] zeroPoints, int row, int block, int blocks, int bits)
    {
        int offset = row * ZeroPointBytesPerRow(blocks, bits);
        return bits == 8 ? zeroPoints[offset + block] : (zeroPoints[offset + (block / 2)] >> (4 * (block % 2))) & 0x0F;
    }

    // Symmetric codes q ∈ [−2^(bits−1), 2^(bits−1) − 1] (stored + 2^(bits−1)) with the scale that minimises the block's
    // squared error over a grid of candidate roundings, as llama.cpp's make_qx_quants: the largest magnitude may take
    // the extra negative code, and each candidate's scale is the least-squares fit Σxq / Σq² of its codes.
    private static float RoundSymmetricSearch(ReadOnlySpan<float> w, int bits, Span<byte> best, Span<byte> trial)
    {
        int half = 1 << (bits - 1);
        float signedMax = 0;
        foreach (float v in w)
        {
            if (MathF.Abs(v) > MathF.Abs(signedMax))
            {
                signedMax = v;
            }
        }
        if (signedMax == 0)
        {
            return 0;
        }
        double bestError = double.PositiveInfinity;
        float bestScale = 0;
        for (int step = -SearchSteps; step <= SearchSteps; step++)
        {
            // Inverse scales around the one that maps the signed maximum to −2^(bits−1) (the negative end has one more code).
            float inverse = (-half + (SearchStride * step)) / signedMax;
            double xq = 0, qq = 0, xx = 0;
            for (int i = 0; i < w.Length; i++)
            {
                int q = Math.Clamp((int)MathF.Round(w[i] * inverse, MidpointRounding.ToEven), -half, half - 1);
                trial[i] = (byte)(q + half);
                xq += (double)w[i] * q;
                qq += (double)q * q;
                xx += (double)w[i] * w[i];
            }
            if (qq == 0)
            {
                continue;
            }
            double error = xx - (xq * xq / qq);
            if (error < bestError)
            {
                bestError = error;
                bestScale = (float)(xq / qq);
                trial[..w.Length].CopyTo(best);
            }
        }
        return bestScale;
    }

    // Asymmetric codes q ∈ [0, 2^bits − 1] standing for (q − z)·scale with an integer zero point z. Without search: the
    // block's [min, max] (widened to hold 0) spread over the codes. With search: candidate scales around that one, each
    // rounded, then refitted by least squares for its codes and zero point; the smallest squared error wins.
    private static (float Scale, int Zero) RoundAsymmetric(ReadOnlySpan<float> w, int bits, bool search, Span<byte> best, Span<byte> trial)
    {
        int maxCode = (1 << bits) - 1;
        float min = 0, max = 0;
        foreach (float v in w)
        {
            min = MathF.Min(min, v);
            max = MathF.Max(max, v);
        }
        if (max == min)
        {
            best[..w.Length].Fill(0);
            return (0, 0);
        }
        double bestError = double.PositiveInfinity;
        float bestScale = 0;
        int bestZero = 0;
        int steps = search ? SearchSteps : 0;
        for (int step = -steps; step <= steps; step++)
        {
            float scale = (max - min) / (maxCode + (SearchStride * step));
            int zero = Math.Clamp((int)MathF.Round(-min / scale, MidpointRounding.ToEven), 0, maxCode);
            for (int refit = 0; refit < (search ? 2 : 1); refit++)
            {
                double xq = 0, qq = 0;
                for (int i = 0; i < w.Length; i++)
                {
                    int q = Math.Clamp((int)MathF.Round(w[i] / scale, MidpointRounding.ToEven) + zero, 0, maxCode);
                    trial[i] = (byte)q;
                    xq += (double)w[i] * (q - zero);
                    qq += (double)(q - zero) * (q - zero);
                }
                if (search && qq > 0)
                {
                    scale = (float)(xq / qq); // least squares for these codes
                }
                double error = 0;
                for (int i = 0; i < w.Length; i++)
                {
                    double d = w[i] - ((trial[i] - zero) * scale);
                    error += d * d;
                }
                if (error < bestError)
                {
                    bestError = error;
                    bestScale = scale;
                    bestZero = zero;
                    trial[..w.Length].CopyTo(best);
                }
            }
        }
        return (bestScale, bestZero);
    }

    // Candidate roundings of the search: inverse scales stepped by a tenth of a code either side, llama.cpp's grid.
    private const int SearchSteps = 9;
    private const float SearchStride = 0.1f;

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
