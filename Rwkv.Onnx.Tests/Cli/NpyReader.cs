using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Rwkv.Onnx.Tests.Cli;

/// <summary>A float32 array read from a <c>.npy</c> file, with its shape.</summary>
internal sealed record NpyArray(int[] Shape, float[] Data);

/// <summary>
/// Reads little-endian float32, C-order <c>.npy</c> files (versions 1.0 to 3.0), strictly: anything else is an error,
/// so tests also check what the writer put in the header.
/// </summary>
internal static partial class NpyReader
{
    public static NpyArray Read(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        if (bytes.Length < 10 || bytes[0] != 0x93 || Encoding.ASCII.GetString(bytes, 1, 5) != "NUMPY")
        {
            throw new InvalidDataException($"'{path}' does not start with the .npy magic.");
        }
        int major = bytes[6];
        int headerLength = major == 1 ? BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8)) : (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(8));
        int headerStart = major == 1 ? 10 : 12;
        string header = Encoding.ASCII.GetString(bytes, headerStart, headerLength);
        int dataStart = headerStart + headerLength;
        if (!header.EndsWith('\n') || dataStart % 64 != 0)
        {
            throw new InvalidDataException($"'{path}' header does not end with a newline at a 64-byte boundary (data at {dataStart}).");
        }
        Match match = HeaderPattern().Match(header);
        if (!match.Success)
        {
            throw new InvalidDataException($"'{path}' header is not a little-endian float32 C-order array: {header.TrimEnd()}");
        }
        int[] shape = match.Groups["shape"].Value
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(s => int.Parse(s, CultureInfo.InvariantCulture))
            .ToArray();
        long count = shape.Aggregate(1L, (a, b) => a * b);
        if (bytes.Length - dataStart != count * sizeof(float))
        {
            throw new InvalidDataException($"'{path}' has {bytes.Length - dataStart} data bytes; shape ({string.Join(", ", shape)}) needs {count * sizeof(float)}.");
        }
        float[] data = new float[count];
        for (int i = 0; i < data.Length; i++)
        {
            data[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(dataStart + i * sizeof(float)));
        }
        return new NpyArray(shape, data);
    }

    [GeneratedRegex(@"^\{'descr': '<f4', 'fortran_order': False, 'shape': \((?<shape>[0-9, ]*)\), \} *\n$")]
    private static partial Regex HeaderPattern();
}
