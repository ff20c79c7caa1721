using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Rwkv.Onnx.Export.Checkpoints;

namespace Rwkv.Onnx.Tests.Fixtures;

/// <summary>
/// Writes torch.save-style zip checkpoints: <c>&lt;archive&gt;/data.pkl</c>, <c>&lt;archive&gt;/data/&lt;key&gt;</c> per
/// storage and <c>&lt;archive&gt;/version</c>. Our own small zip writer (not ZipArchive) so that tests control what
/// readers meet: stored or deflated entries, torch's 64-byte data alignment (padding in the local extra field), and
/// ZIP64 records even for small files.
/// </summary>
internal static class TorchZipWriter
{
    /// <summary>One storage: element type and values (encoded little-endian in that type; fp16/bf16 round to nearest even).</summary>
    internal sealed record Storage(TensorDType DType, float[] Values);

    /// <summary>A tensor as a view of a storage.</summary>
    internal sealed record TensorView(string Name, string StorageKey, long Offset, long[] Shape, long[] Strides)
    {
        /// <summary>A contiguous tensor that is its whole storage.</summary>
        public static TensorView Contiguous(string name, string key, params long[] shape) =>
            new(name, key, 0, shape, [.. StridesOf(shape)]);

        private static IEnumerable<long> StridesOf(long[] shape)
        {
            var strides = new long[shape.Length];
            long s = 1;
            for (int i = shape.Length - 1; i >= 0; i--)
            {
                strides[i] = s;
                s *= shape[i];
            }
            return strides;
        }
    }

    /// <summary>Options of the zip container.</summary>
    internal sealed record ZipOptions(bool Deflate = false, bool Zip64 = false, bool Align = true);

    /// <summary>Writes a state dict of views over storages, pickled as torch.save does.</summary>
    public static void WriteStateDict(string path, IReadOnlyList<TensorView> tensors, IReadOnlyDictionary<string, Storage> storages, ZipOptions? options = null, string archive = "archive")
    {
        var entries = new List<(string, byte[])> { ($"{archive}/data.pkl", PickleWriter.StateDict(tensors, storages)) };
        entries.AddRange(storages.Select(s => ($"{archive}/data/{s.Key}", Encode(s.Value))));
        entries.Add(($"{archive}/version", "3\n"u8.ToArray()));
        WriteZip(path, entries, options ?? new ZipOptions());
    }

    /// <summary>Encodes storage values in their dtype, little-endian.</summary>
    public static byte[] Encode(Storage storage)
    {
        int size = storage.DType == TensorDType.Float32 ? 4 : 2;
        var bytes = new byte[storage.Values.Length * size];
        for (int i = 0; i < storage.Values.Length; i++)
        {
            float v = storage.Values[i];
            switch (storage.DType)
            {
                case TensorDType.Float32:
                    BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4 * i), v);
                    break;
                case TensorDType.Float16:
                    BinaryPrimitives.WriteHalfLittleEndian(bytes.AsSpan(2 * i), (Half)v);
                    break;
                default:
                    BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(2 * i), ToBFloat16(v));
                    break;
            }
        }
        return bytes;
    }

    /// <summary>Rounds to bfloat16 (nearest even), as torch does; returns the bits.</summary>
    public static ushort ToBFloat16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        return (ushort)((bits + 0x7fff + ((bits >> 16) & 1)) >> 16);
    }

    /// <summary>The float value of <paramref name="value"/> rounded to bfloat16.</summary>
    public static float RoundToBFloat16(float value) => BitConverter.UInt32BitsToSingle((uint)ToBFloat16(value) << 16);

    /// <summary>Writes a zip of the given entries, in order.</summary>
    public static void WriteZip(string path, IReadOnlyList<(string Name, byte[] Data)> entries, ZipOptions options)
    {
        using FileStream file = File.Create(path);
        var central = new MemoryStream();
        foreach ((string name, byte[] data) in entries)
        {
            byte[] nameBytes = Encoding.UTF8.GetBytes(name);
            byte[] stored = options.Deflate ? Deflate(data) : data;
            ushort method = (ushort)(options.Deflate ? 8 : 0);
            uint crc = Crc32(data);
            long offset = file.Position;

            // Local header; torch pads the extra field so that data starts at a multiple of 64.
            int padding = 0;
            if (options.Align)
            {
                long dataStart = offset + 30 + nameBytes.Length + 4;
                padding = (int)((64 - (dataStart % 64)) % 64);
            }
            byte[] extra = options.Align ? [.. LittleEndian16(0x4246), .. LittleEndian16((ushort)padding), .. new byte[padding]] : [];
            var local = new byte[30];
            BinaryPrimitives.WriteUInt32LittleEndian(local, 0x04034b50);
            BinaryPrimitives.WriteUInt16LittleEndian(local.AsSpan(4), 20);
            BinaryPrimitives.WriteUInt16LittleEndian(local.AsSpan(8), method);
            BinaryPrimitives.WriteUInt32LittleEndian(local.AsSpan(14), crc);
            BinaryPrimitives.WriteUInt32LittleEndian(local.AsSpan(18), (uint)stored.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(local.AsSpan(22), (uint)data.Length);
            BinaryPrimitives.WriteUInt16LittleEndian(local.AsSpan(26), (ushort)nameBytes.Length);
            BinaryPrimitives.WriteUInt16LittleEndian(local.AsSpan(28), (ushort)extra.Length);
            file.Write(local);
            file.Write(nameBytes);
            file.Write(extra);
            file.Write(stored);

            // Central header; with Zip64 every size and the offset go to the ZIP64 extra field.
            byte[] zip64 = options.Zip64 ? [.. LittleEndian16(1), .. LittleEndian16(24), .. BitConverter.GetBytes((long)data.Length), .. BitConverter.GetBytes((long)stored.Length), .. BitConverter.GetBytes(offset)] : [];
            var header = new byte[46];
            BinaryPrimitives.WriteUInt32LittleEndian(header, 0x02014b50);
            BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(4), 45);
            BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(6), 20);
            BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(10), method);
            BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(16), crc);
            BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(20), options.Zip64 ? uint.MaxValue : (uint)stored.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(24), options.Zip64 ? uint.MaxValue : (uint)data.Length);
            BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(28), (ushort)nameBytes.Length);
            BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(30), (ushort)zip64.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(42), options.Zip64 ? uint.MaxValue : (uint)offset);
            central.Write(header);
            central.Write(nameBytes);
            central.Write(zip64);
        }
        long directoryOffset = file.Position;
        file.Write(central.ToArray());
        long directoryEnd = file.Position;
        if (options.Zip64)
        {
            var record = new byte[56];
            BinaryPrimitives.WriteUInt32LittleEndian(record, 0x06064b50);
            BinaryPrimitives.WriteUInt64LittleEndian(record.AsSpan(4), 44);
            BinaryPrimitives.WriteUInt16LittleEndian(record.AsSpan(12), 45);
            BinaryPrimitives.WriteUInt16LittleEndian(record.AsSpan(14), 45);
            BinaryPrimitives.WriteUInt64LittleEndian(record.AsSpan(24), (ulong)entries.Count);
            BinaryPrimitives.WriteUInt64LittleEndian(record.AsSpan(32), (ulong)entries.Count);
            BinaryPrimitives.WriteUInt64LittleEndian(record.AsSpan(40), (ulong)central.Length);
            BinaryPrimitives.WriteUInt64LittleEndian(record.AsSpan(48), (ulong)directoryOffset);
            file.Write(record);
            var locator = new byte[20];
            BinaryPrimitives.WriteUInt32LittleEndian(locator, 0x07064b50);
            BinaryPrimitives.WriteUInt64LittleEndian(locator.AsSpan(8), (ulong)directoryEnd);
            BinaryPrimitives.WriteUInt32LittleEndian(locator.AsSpan(16), 1);
            file.Write(locator);
        }
        var end = new byte[22];
        BinaryPrimitives.WriteUInt32LittleEndian(end, 0x06054b50);
        BinaryPrimitives.WriteUInt16LittleEndian(end.AsSpan(8), options.Zip64 ? ushort.MaxValue : (ushort)entries.Count);
        BinaryPrimitives.WriteUInt16LittleEndian(end.AsSpan(10), options.Zip64 ? ushort.MaxValue : (ushort)entries.Count);
        BinaryPrimitives.WriteUInt32LittleEndian(end.AsSpan(12), options.Zip64 ? uint.MaxValue : (uint)central.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(end.AsSpan(16), options.Zip64 ? uint.MaxValue : (uint)directoryOffset);
        file.Write(end);
    }

    private static byte[] LittleEndian16(ushort value) => BitConverter.GetBytes(value);

    private static byte[] Deflate(byte[] data)
    {
        using var output = new MemoryStream();
        using (var deflate = new DeflateStream(output, CompressionLevel.Optimal, leaveOpen: true))
        {
            deflate.Write(data);
        }
        return output.ToArray();
    }

    // Independent of the reader's CRC: bitwise, no table.
    private static uint Crc32(byte[] data)
    {
        uint crc = 0xffffffff;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++)
            {
                crc = (crc >> 1) ^ (0xedb88320 & (0u - (crc & 1)));
            }
        }
        return ~crc;
    }
}
