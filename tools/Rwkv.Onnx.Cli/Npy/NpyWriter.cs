using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace Rwkv.Onnx.Cli.Npy;

/// <summary>
/// Writes float32 arrays in NumPy's <c>.npy</c> format, version 1.0: the magic <c>\x93NUMPY</c>, bytes 1 and 0,
/// a little-endian uint16 header length, an ASCII dict <c>{'descr': '&lt;f4', 'fortran_order': False, 'shape': (...), }</c>
/// padded with spaces and ended by <c>\n</c> so the data starts at a multiple of 64 bytes, then the data in C order.
/// </summary>
internal static class NpyWriter
{
    private static ReadOnlySpan<byte> Magic => [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0];

    private const int Alignment = 64;

    /// <summary>Writes <paramref name="data"/> with shape <paramref name="shape"/> to <paramref name="stream"/>.</summary>
    /// <exception cref="ArgumentException">The product of <paramref name="shape"/> is not the length of <paramref name="data"/>.</exception>
    public static void Write(Stream stream, ReadOnlySpan<float> data, ReadOnlySpan<int> shape)
    {
        ArgumentNullException.ThrowIfNull(stream);
        long count = 1;
        foreach (int dimension in shape)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(dimension, nameof(shape));
            count *= dimension;
        }
        if (count != data.Length)
        {
            throw new ArgumentException($"Shape ({FormatShape(shape)}) holds {count} values but {data.Length} were given.", nameof(shape));
        }

        string dict = $"{{'descr': '<f4', 'fortran_order': False, 'shape': ({FormatShape(shape)}), }}";
        int unpadded = Magic.Length + sizeof(ushort) + dict.Length + 1;   // + the closing '\n'
        int headerLength = dict.Length + 1 + (Alignment - (unpadded % Alignment)) % Alignment;
        Span<byte> prefix = stackalloc byte[Magic.Length + sizeof(ushort)];
        Magic.CopyTo(prefix);
        BinaryPrimitives.WriteUInt16LittleEndian(prefix[Magic.Length..], checked((ushort)headerLength));
        stream.Write(prefix);
        stream.Write(Encoding.ASCII.GetBytes(dict.PadRight(headerLength - 1) + "\n"));

        if (BitConverter.IsLittleEndian)
        {
            stream.Write(MemoryMarshal.AsBytes(data));
        }
        else
        {
            Span<byte> value = stackalloc byte[sizeof(float)];
            foreach (float x in data)
            {
                BinaryPrimitives.WriteSingleLittleEndian(value, x);
                stream.Write(value);
            }
        }
    }

    // NumPy's tuple syntax: "" for a scalar, "256," for one dimension, "3, 256" for more.
    private static string FormatShape(ReadOnlySpan<int> shape)
    {
        var text = new StringBuilder();
        for (int i = 0; i < shape.Length; i++)
        {
            text.Append(i == 0 ? "" : ", ").Append(shape[i].ToString(CultureInfo.InvariantCulture));
        }
        return shape.Length == 1 ? text.Append(',').ToString() : text.ToString();
    }
}
