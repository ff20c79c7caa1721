using System.Buffers.Binary;
using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Text.RegularExpressions;

namespace Rwkv.Onnx.Tests.Cli;

/// <summary>A float32 array read from a <c>.npy</c> file, with its shape.</summary>
internal sealed record NpyArray(int[] Shape, float[] Data);

/// <summary>
/// Reads little-endian float32 (or int32, returned as float32), C-order <c>.npy</c> files (versions 1.0 to 3.0), and the
/// <c>.npy</c> members of an uncompressed <c>.npz</c>, strictly: anything else is an error, so tests also check what the
/// writer put in the header.
/// </summary>
internal static partial class NpyReader
{
    public static NpyArray Read(string path) => Read(File.ReadAllBytes(path), path);

    /// <summary>Every array of an <c>.npz</c> file by its name without <c>.npy</c>.</summary>
    public static Dictionary<string, NpyArray> ReadArchive(string path)
    {
        using ZipArchive zip = ZipFile.OpenRead(path);
        var arrays = new Dictionary<string, NpyArray>(StringComparer.Ordinal);
        foreach (ZipArchiveEntry entry in zip.Entries)
        {
            using var bytes = new MemoryStream();
            using (Stream stream = entry.Open())
            {
                stream.CopyTo(bytes);
            }
            arrays.Add(Path.GetFileNameWithoutExtension(entry.Name), Read(bytes.ToArray(), $"{path}:{entry.Name}"));
        }
        return arrays;
    }

    private static NpyArray Read(byte[] bytes, string path)
    {
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
        bool integers = match.Groups["type"].Value == "i4";
        float[] data = new float[count];
        for (int i = 0; i < data.Length; i++)
        {
            data[i] = integers
                ? BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(dataStart + i * sizeof(int)))
                : BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(dataStart + i * sizeof(float)));
        }
        return new NpyArray(shape, data);
    }

    [GeneratedRegex(@"^\{'descr': '<(?<type>f4|i4)', 'fortran_order': False, 'shape': \((?<shape>[0-9, ]*)\), \} *\n$")]
    private static partial Regex HeaderPattern();
}
