using System.Buffers.Binary;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Rwkv.Onnx.Export.Checkpoints;

/// <summary>
/// Reads a zip archive's central directory (ZIP64 included) and each entry's local header, so that
/// entry data can be read in place by file offset. <see cref="System.IO.Compression.ZipArchive"/> locates
/// entries too but exposes neither the data offset nor the compression method, which reading in place needs.
/// Every size and offset is checked against the file length before it is used; nothing is allocated
/// from a declared size that the file cannot back.
/// </summary>
internal static class ZipDirectory
{
    private const uint EndOfCentralDirectorySignature = 0x06054b50;
    private const uint Zip64LocatorSignature = 0x07064b50;
    private const uint Zip64EndSignature = 0x06064b50;
    private const uint CentralHeaderSignature = 0x02014b50;
    private const uint LocalHeaderSignature = 0x04034b50;
    private const int EndRecordSize = 22;
    private const int CentralHeaderSize = 46;
    private const int LocalHeaderSize = 30;
    private const long MaxDirectoryBytes = 256L << 20;

    // Deflate cannot compress better than about 1032:1 (258-byte matches in 2-bit codes), so a larger declared
    // size is corrupt, and refusing it keeps allocations proportional to the file.
    private const long MaxDeflateRatio = 1032;

    /// <summary>True when the file starts with a zip local-header signature (<c>PK\x03\x04</c>).</summary>
    public static bool HasZipSignature(ReadOnlySpan<byte> head) =>
        head.Length >= 4 && BinaryPrimitives.ReadUInt32LittleEndian(head) == LocalHeaderSignature;

    /// <summary>Reads every entry of the archive.</summary>
    /// <exception cref="CheckpointFormatException">The archive is truncated, corrupt, encrypted or split over disks.</exception>
    public static IReadOnlyList<ZipEntry> Read(SafeFileHandle handle, string path)
    {
        long length = RandomAccess.GetLength(handle);
        if (length < EndRecordSize)
        {
            throw Error(path, $"is {length} bytes long, too short for a zip archive (at least {EndRecordSize} bytes); it is truncated");
        }
        (long count, long directorySize, long directoryOffset, long directoryEnd) = ReadEndRecord(handle, path, length);
        if (directorySize > directoryEnd - directoryOffset || directoryOffset < 0)
        {
            throw Error(path, $"declares a central directory of {directorySize} bytes at byte {directoryOffset}, which does not fit before its end record at byte {directoryEnd}; the file is truncated or corrupt");
        }
        if (directorySize > MaxDirectoryBytes)
        {
            throw Error(path, $"declares a central directory of {directorySize} bytes, more than the {MaxDirectoryBytes >> 20} MB this reader accepts");
        }
        if (count > directorySize / CentralHeaderSize)
        {
            throw Error(path, $"declares {count} entries in a central directory of only {directorySize} bytes");
        }

        byte[] directory = new byte[directorySize];
        ReadExactly(handle, path, directory, directoryOffset);
        var entries = new List<ZipEntry>((int)count);
        var names = new HashSet<string>(StringComparer.Ordinal);
        int position = 0;
        Span<byte> local = stackalloc byte[LocalHeaderSize];
        for (long i = 0; i < count; i++)
        {
            ZipEntry entry = ReadCentralHeader(path, directory, ref position, i);
            if (!names.Add(entry.Name))
            {
                throw Error(path, $"holds the zip entry '{entry.Name}' twice");
            }
            // The local header repeats name and sizes; only its name and extra-field lengths matter here.
            long localOffset = entry.DataOffset;
            if (localOffset > length - LocalHeaderSize)
            {
                throw Error(path, $"says zip entry '{entry.Name}' starts at byte {localOffset}, past the end of the {length}-byte file; it is truncated");
            }
            ReadExactly(handle, path, local, localOffset);
            if (BinaryPrimitives.ReadUInt32LittleEndian(local) != LocalHeaderSignature)
            {
                throw Error(path, $"has no local header for zip entry '{entry.Name}' at byte {localOffset}; the archive is corrupt");
            }
            long dataOffset = localOffset + LocalHeaderSize + BinaryPrimitives.ReadUInt16LittleEndian(local[26..]) + BinaryPrimitives.ReadUInt16LittleEndian(local[28..]);
            if (entry.CompressedSize > length - dataOffset)
            {
                throw Error(path, $"is truncated: zip entry '{entry.Name}' needs {entry.CompressedSize} bytes at byte {dataOffset}, but the file is {length} bytes long");
            }
            entries.Add(entry with { DataOffset = dataOffset });
        }
        return entries;
    }

    // Finds the end-of-central-directory record (followed only by its comment) and, if any field is
    // saturated, the ZIP64 record it points to.
    private static (long Count, long Size, long Offset, long End) ReadEndRecord(SafeFileHandle handle, string path, long length)
    {
        int tailLength = (int)Math.Min(length, EndRecordSize + ushort.MaxValue);
        byte[] tail = new byte[tailLength];
        ReadExactly(handle, path, tail, length - tailLength);
        int at = -1;
        for (int i = tailLength - EndRecordSize; i >= 0; i--)
        {
            if (BinaryPrimitives.ReadUInt32LittleEndian(tail.AsSpan(i)) == EndOfCentralDirectorySignature
                && i + EndRecordSize + BinaryPrimitives.ReadUInt16LittleEndian(tail.AsSpan(i + 20)) == tailLength)
            {
                at = i;
                break;
            }
        }
        if (at < 0)
        {
            throw Error(path, "has no zip end-of-central-directory record; it is truncated or not a zip archive");
        }
        ReadOnlySpan<byte> end = tail.AsSpan(at, EndRecordSize);
        long endPosition = length - tailLength + at;
        ushort disk = BinaryPrimitives.ReadUInt16LittleEndian(end[4..]), directoryDisk = BinaryPrimitives.ReadUInt16LittleEndian(end[6..]);
        long count = BinaryPrimitives.ReadUInt16LittleEndian(end[10..]);
        long size = BinaryPrimitives.ReadUInt32LittleEndian(end[12..]);
        long offset = BinaryPrimitives.ReadUInt32LittleEndian(end[16..]);
        if (count != ushort.MaxValue && size != uint.MaxValue && offset != uint.MaxValue)
        {
            return disk == 0 && directoryDisk == 0 ? (count, size, offset, endPosition) : throw SplitArchive(path);
        }

        Span<byte> locator = stackalloc byte[20];
        if (endPosition < locator.Length)
        {
            throw Error(path, "has saturated zip directory fields but no ZIP64 locator; the archive is corrupt");
        }
        ReadExactly(handle, path, locator, endPosition - locator.Length);
        if (BinaryPrimitives.ReadUInt32LittleEndian(locator) != Zip64LocatorSignature)
        {
            throw Error(path, "has saturated zip directory fields but no ZIP64 locator; the archive is corrupt");
        }
        long recordOffset = (long)Math.Min(BinaryPrimitives.ReadUInt64LittleEndian(locator[8..]), long.MaxValue);
        long locatorPosition = endPosition - locator.Length;
        Span<byte> record = stackalloc byte[56];
        if (recordOffset > locatorPosition - record.Length)
        {
            throw Error(path, $"has a ZIP64 locator pointing at byte {recordOffset}, outside the archive; it is corrupt");
        }
        ReadExactly(handle, path, record, recordOffset);
        if (BinaryPrimitives.ReadUInt32LittleEndian(record) != Zip64EndSignature)
        {
            throw Error(path, $"has no ZIP64 end-of-central-directory record at byte {recordOffset}; the archive is corrupt");
        }
        if (BinaryPrimitives.ReadUInt32LittleEndian(record[16..]) != 0 || BinaryPrimitives.ReadUInt32LittleEndian(record[20..]) != 0)
        {
            throw SplitArchive(path);
        }
        return (Clamp(BinaryPrimitives.ReadUInt64LittleEndian(record[32..])), Clamp(BinaryPrimitives.ReadUInt64LittleEndian(record[40..])),
            Clamp(BinaryPrimitives.ReadUInt64LittleEndian(record[48..])), recordOffset);
    }

    private static ZipEntry ReadCentralHeader(string path, byte[] directory, ref int position, long index)
    {
        if (directory.Length - position < CentralHeaderSize
            || BinaryPrimitives.ReadUInt32LittleEndian(directory.AsSpan(position)) != CentralHeaderSignature)
        {
            throw Error(path, $"has a corrupt central directory: entry {index} at directory byte {position} is not a zip file header");
        }
        ReadOnlySpan<byte> h = directory.AsSpan(position, CentralHeaderSize);
        ushort flags = BinaryPrimitives.ReadUInt16LittleEndian(h[8..]);
        int method = BinaryPrimitives.ReadUInt16LittleEndian(h[10..]);
        uint crc = BinaryPrimitives.ReadUInt32LittleEndian(h[16..]);
        long compressed = BinaryPrimitives.ReadUInt32LittleEndian(h[20..]);
        long size = BinaryPrimitives.ReadUInt32LittleEndian(h[24..]);
        int nameLength = BinaryPrimitives.ReadUInt16LittleEndian(h[28..]);
        int extraLength = BinaryPrimitives.ReadUInt16LittleEndian(h[30..]);
        int commentLength = BinaryPrimitives.ReadUInt16LittleEndian(h[32..]);
        long localOffset = BinaryPrimitives.ReadUInt32LittleEndian(h[42..]);
        int variable = nameLength + extraLength + commentLength;
        if (directory.Length - position - CentralHeaderSize < variable)
        {
            throw Error(path, $"has a corrupt central directory: entry {index} runs past the directory's end");
        }
        ReadOnlySpan<byte> nameBytes = directory.AsSpan(position + CentralHeaderSize, nameLength);
        string name = (flags & 0x800) != 0 ? Encoding.UTF8.GetString(nameBytes) : Encoding.Latin1.GetString(nameBytes);
        ReadOnlySpan<byte> extra = directory.AsSpan(position + CentralHeaderSize + nameLength, extraLength);
        position += CentralHeaderSize + variable;
        if ((flags & 1) != 0)
        {
            throw Error(path, $"holds the encrypted zip entry '{name}'; encrypted archives are not supported");
        }

        // ZIP64 extended information (tag 1): the saturated fields, in this order.
        while (extra.Length >= 4)
        {
            ushort tag = BinaryPrimitives.ReadUInt16LittleEndian(extra);
            int dataLength = BinaryPrimitives.ReadUInt16LittleEndian(extra[2..]);
            if (dataLength > extra.Length - 4)
            {
                throw Error(path, $"has a corrupt extra field in the directory entry of '{name}'");
            }
            ReadOnlySpan<byte> data = extra.Slice(4, dataLength);
            if (tag == 1)
            {
                size = Zip64Field(path, name, ref data, size);
                compressed = Zip64Field(path, name, ref data, compressed);
                localOffset = Zip64Field(path, name, ref data, localOffset);
            }
            extra = extra[(4 + dataLength)..];
        }
        if (method == ZipEntry.Deflated && size > (compressed * MaxDeflateRatio) + 1024)
        {
            throw Error(path, $"declares that zip entry '{name}' inflates from {compressed} to {size} bytes, beyond what deflate can reach; the archive is corrupt");
        }
        if (method == ZipEntry.Stored && compressed != size)
        {
            throw Error(path, $"stores zip entry '{name}' uncompressed with {compressed} bytes but declares {size}; the archive is corrupt");
        }
        return new ZipEntry(name, method, compressed, size, crc, localOffset);
    }

    private static long Zip64Field(string path, string name, ref ReadOnlySpan<byte> data, long value)
    {
        if (value != uint.MaxValue)
        {
            return value;
        }
        if (data.Length < 8)
        {
            throw Error(path, $"has a truncated ZIP64 field in the directory entry of '{name}'");
        }
        long wide = Clamp(BinaryPrimitives.ReadUInt64LittleEndian(data));
        data = data[8..];
        return wide;
    }

    private static long Clamp(ulong value) => (long)Math.Min(value, long.MaxValue);

    private static void ReadExactly(SafeFileHandle handle, string path, Span<byte> buffer, long offset)
    {
        while (!buffer.IsEmpty)
        {
            int read = RandomAccess.Read(handle, buffer, offset);
            if (read <= 0)
            {
                throw Error(path, $"ended at byte {offset} inside its zip directory; it is truncated");
            }
            buffer = buffer[read..];
            offset += read;
        }
    }

    private static CheckpointFormatException SplitArchive(string path) =>
        Error(path, "is a zip archive split over several disks, which is not supported");

    private static CheckpointFormatException Error(string path, string what) => new(path, null, $"Checkpoint '{path}' {what}.");
}
