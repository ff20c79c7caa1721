using System.Buffers.Binary;
using Rwkv.Onnx.Export.Checkpoints;

namespace Rwkv.Onnx.Export.Quantization;

/// <summary>
/// ggml's reference quantizers (<c>quantize_row_q8_0_ref</c>, <c>q4_0</c>, <c>q5_1</c>, as rwkv.cpp's quantize tool
/// runs them) into the block layout <see cref="QuantizedBlocks"/> reads, so a float32 export can carry exactly the
/// weights a rwkv.cpp file of that format would (<see cref="ExportOptions.EmulatedFormat"/>).
/// </summary>
internal static class GgmlBlockQuantizer
{
    /// <summary>The weights that <paramref name="format"/>'s blocks give back for <paramref name="values"/> (a multiple of 32 long).</summary>
    public static float[] RoundTrip(ReadOnlySpan<float> values, EmulatedBlockFormat format)
    {
        TensorDType type = format switch
        {
            EmulatedBlockFormat.Q8_0 => TensorDType.Q8_0,
            EmulatedBlockFormat.Q4_0 => TensorDType.Q4_0,
            _ => TensorDType.Q5_1,
        };
        byte[] blocks = Quantize(values, type);
        var result = new float[values.Length];
        QuantizedBlocks.Dequantize(blocks, type, result);
        return result;
    }

    /// <summary>
    /// The Q5_1 weights of <paramref name="values"/> (a multiple of 32 long) in the two parts ggml's dot multiplies
    /// separately: d·q per weight (<c>Scaled</c>) and the minimum m per block of 32 (<c>Minimums</c>); their sum is
    /// <see cref="RoundTrip"/>'s result up to float32 rounding.
    /// </summary>
    public static (float[] Scaled, float[] Minimums) SplitQ5_1(ReadOnlySpan<float> values)
    {
        const int Qk = QuantizedBlocks.BlockElements;
        byte[] blocks = Quantize(values, TensorDType.Q5_1);
        int size = QuantizedBlocks.BlockBytes(TensorDType.Q5_1);
        var minimums = new float[values.Length / Qk];
        for (int b = 0; b < minimums.Length; b++)
        {
            Span<byte> m = blocks.AsSpan((b * size) + 2, 2);
            minimums[b] = (float)BinaryPrimitives.ReadHalfLittleEndian(m);
            BinaryPrimitives.WriteHalfLittleEndian(m, Half.Zero);
        }
        var scaled = new float[values.Length];
        QuantizedBlocks.Dequantize(blocks, TensorDType.Q5_1, scaled);
        return (scaled, minimums);
    }

    /// <summary>Quantizes <paramref name="values"/> (a multiple of 32 long) into Q8_0, Q4_0 or Q5_1 blocks.</summary>
    public static byte[] Quantize(ReadOnlySpan<float> values, TensorDType type)
    {
        const int Qk = QuantizedBlocks.BlockElements;
        if (values.Length % Qk != 0)
        {
            throw new ArgumentException($"{values.Length} values are not whole blocks of {Qk}.", nameof(values));
        }
        int size = QuantizedBlocks.BlockBytes(type);
        var blocks = new byte[values.Length / Qk * size];
        for (int b = 0; b < values.Length / Qk; b++)
        {
            ReadOnlySpan<float> x = values.Slice(b * Qk, Qk);
            Span<byte> y = blocks.AsSpan(b * size, size);
            switch (type)
            {
                case TensorDType.Q8_0:
                    Q8_0(x, y);
                    break;
                case TensorDType.Q4_0:
                    Q4_0(x, y);
                    break;
                case TensorDType.Q5_1:
                    Q5_1(x, y);
                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(type), type, $"{type} is not one of the emulated formats Q8_0, Q4_0, Q5_1.");
            }
        }
        return blocks;
    }

    private static void Q8_0(ReadOnlySpan<float> x, Span<byte> y)
    {
        float amax = 0;
        foreach (float v in x)
        {
            amax = MathF.Max(amax, MathF.Abs(v));
        }
        float d = amax / 127, id = d != 0 ? 1 / d : 0;
        BinaryPrimitives.WriteHalfLittleEndian(y, (Half)d);
        for (int j = 0; j < x.Length; j++)
        {
            y[2 + j] = (byte)(sbyte)MathF.Round(x[j] * id, MidpointRounding.AwayFromZero); // C roundf
        }
    }

    private static void Q4_0(ReadOnlySpan<float> x, Span<byte> y)
    {
        float amax = 0, max = 0;
        foreach (float v in x)
        {
            if (amax < MathF.Abs(v))
            {
                amax = MathF.Abs(v);
                max = v;
            }
        }
        float d = max / -8, id = d != 0 ? 1 / d : 0;
        BinaryPrimitives.WriteHalfLittleEndian(y, (Half)d);
        int half = x.Length / 2;
        for (int j = 0; j < half; j++)
        {
            int x0 = Math.Min(15, (int)(sbyte)((x[j] * id) + 8.5f));
            int x1 = Math.Min(15, (int)(sbyte)((x[half + j] * id) + 8.5f));
            y[2 + j] = (byte)(x0 | (x1 << 4));
        }
    }

    private static void Q5_1(ReadOnlySpan<float> x, Span<byte> y)
    {
        float min = float.MaxValue, max = float.MinValue;
        foreach (float v in x)
        {
            min = MathF.Min(min, v);
            max = MathF.Max(max, v);
        }
        float d = (max - min) / 31, id = d != 0 ? 1 / d : 0;
        BinaryPrimitives.WriteHalfLittleEndian(y, (Half)d);
        BinaryPrimitives.WriteHalfLittleEndian(y[2..], (Half)min);
        int half = x.Length / 2;
        uint qh = 0;
        for (int j = 0; j < half; j++)
        {
            int x0 = (byte)(((x[j] - min) * id) + 0.5f);
            int x1 = (byte)(((x[half + j] - min) * id) + 0.5f);
            y[8 + j] = (byte)((x0 & 0x0F) | ((x1 & 0x0F) << 4));
            qh |= (uint)((x0 & 0x10) >> 4) << j;
            qh |= (uint)((x1 & 0x10) >> 4) << (j + half);
        }
        BinaryPrimitives.WriteUInt32LittleEndian(y[4..], qh);
    }
}
