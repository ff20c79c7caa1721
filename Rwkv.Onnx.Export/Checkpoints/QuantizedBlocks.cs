using System.Buffers.Binary;

namespace Rwkv.Onnx.Export.Checkpoints;

/// <summary>
/// ggml's block-quantized layouts as rwkv.cpp stores them (file version 101): 32 weights per block,
/// FP16 scale <c>d</c> (and minimum <c>m</c> for the <c>_1</c> types) first. Element <c>j</c> of 0…15 is
/// the low nibble of <c>qs[j]</c>, element <c>j + 16</c> the high nibble; Q5 types take a fifth bit from
/// bit <c>e</c> of the little-endian uint32 <c>qh</c>. The arithmetic is ggml's reference dequantization in float32.
/// </summary>
internal static class QuantizedBlocks
{
    /// <summary>Weights per block.</summary>
    public const int BlockElements = 32;

    /// <summary>True for the block-quantized types.</summary>
    public static bool IsQuantized(TensorDType dtype) => dtype is TensorDType.Q4_0 or TensorDType.Q4_1 or TensorDType.Q5_0 or TensorDType.Q5_1 or TensorDType.Q8_0;

    /// <summary>Bytes per block of 32 weights.</summary>
    public static int BlockBytes(TensorDType dtype) => dtype switch
    {
        TensorDType.Q4_0 => 18,
        TensorDType.Q4_1 => 20,
        TensorDType.Q5_0 => 22,
        TensorDType.Q5_1 => 24,
        TensorDType.Q8_0 => 34,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, $"{dtype} is not block-quantized."),
    };

    /// <summary>Dequantizes <c>destination.Length / 32</c> blocks from <paramref name="blocks"/>.</summary>
    public static void Dequantize(ReadOnlySpan<byte> blocks, TensorDType dtype, Span<float> destination)
    {
        int size = BlockBytes(dtype);
        int count = destination.Length / BlockElements;
        for (int b = 0; b < count; b++)
        {
            ReadOnlySpan<byte> block = blocks.Slice(b * size, size);
            Span<float> y = destination.Slice(b * BlockElements, BlockElements);
            float d = (float)BinaryPrimitives.ReadHalfLittleEndian(block);
            switch (dtype)
            {
                case TensorDType.Q4_0:
                    Nibbles(block[2..], y, d, null, -8);
                    break;
                case TensorDType.Q4_1:
                    Nibbles(block[4..], y, d, (float)BinaryPrimitives.ReadHalfLittleEndian(block[2..]), 0);
                    break;
                case TensorDType.Q5_0:
                    FiveBit(BinaryPrimitives.ReadUInt32LittleEndian(block[2..]), block[6..], y, d, null, -16);
                    break;
                case TensorDType.Q5_1:
                    FiveBit(BinaryPrimitives.ReadUInt32LittleEndian(block[4..]), block[8..], y, d, (float)BinaryPrimitives.ReadHalfLittleEndian(block[2..]), 0);
                    break;
                default: // Q8_0
                    for (int j = 0; j < BlockElements; j++)
                    {
                        y[j] = (sbyte)block[2 + j] * d;
                    }
                    break;
            }
        }
    }

    // value = (q + bias) * d [+ m], q the 4-bit nibble
    private static void Nibbles(ReadOnlySpan<byte> qs, Span<float> y, float d, float? m, int bias)
    {
        for (int j = 0; j < BlockElements / 2; j++)
        {
            y[j] = Scale((qs[j] & 0x0f) + bias, d, m);
            y[j + 16] = Scale((qs[j] >> 4) + bias, d, m);
        }
    }

    // value = (q + bias) * d [+ m], q = nibble | (bit e of qh) << 4
    private static void FiveBit(uint qh, ReadOnlySpan<byte> qs, Span<float> y, float d, float? m, int bias)
    {
        for (int j = 0; j < BlockElements / 2; j++)
        {
            int low = (qs[j] & 0x0f) | (int)(((qh >> j) & 1) << 4);
            int high = (qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
            y[j] = Scale(low + bias, d, m);
            y[j + 16] = Scale(high + bias, d, m);
        }
    }

    // ggml: x*d for the _0 types, x*d + m for the _1 types (no fused multiply-add)
    private static float Scale(int q, float d, float? m) => m is { } min ? (q * d) + min : q * d;
}
