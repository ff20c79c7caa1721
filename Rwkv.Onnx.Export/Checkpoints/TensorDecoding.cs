using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Rwkv.Onnx.Export.Checkpoints;

/// <summary>Converts little-endian fp32, fp16 and bf16 elements to float32.</summary>
internal static class TensorDecoding
{
    /// <summary>The short lower-case name used in manifests and messages: fp32, fp16, bf16, q4_0, q4_1, q5_0, q5_1, q8_0.</summary>
    public static string ShortName(TensorDType dtype) => dtype switch
    {
        TensorDType.Float32 => "fp32",
        TensorDType.Float16 => "fp16",
        TensorDType.BFloat16 => "bf16",
        _ => dtype.ToString().ToLowerInvariant(),
    };

    /// <summary>Bytes per element of an unquantized type.</summary>
    public static int ElementSize(TensorDType dtype) => dtype switch
    {
        TensorDType.Float32 => 4,
        TensorDType.Float16 or TensorDType.BFloat16 => 2,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, $"{dtype} is a block-quantized type without a per-element size."),
    };

    /// <summary>Decodes <c>destination.Length</c> elements from <paramref name="source"/>.</summary>
    public static void Decode(ReadOnlySpan<byte> source, TensorDType dtype, Span<float> destination)
    {
        switch (dtype)
        {
            case TensorDType.Float32:
                if (BitConverter.IsLittleEndian)
                {
                    MemoryMarshal.Cast<byte, float>(source[..(destination.Length * 4)]).CopyTo(destination);
                }
                else
                {
                    for (int i = 0; i < destination.Length; i++)
                    {
                        destination[i] = BinaryPrimitives.ReadSingleLittleEndian(source[(4 * i)..]);
                    }
                }
                break;
            case TensorDType.Float16:
                for (int i = 0; i < destination.Length; i++)
                {
                    destination[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(source[(2 * i)..]);
                }
                break;
            case TensorDType.BFloat16:
                for (int i = 0; i < destination.Length; i++)
                {
                    destination[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(source[(2 * i)..]) << 16);
                }
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(dtype), dtype, $"{dtype} is block-quantized; use {nameof(QuantizedBlocks)}.");
        }
    }
}
