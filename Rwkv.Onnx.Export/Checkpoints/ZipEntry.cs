namespace Rwkv.Onnx.Export.Checkpoints;

/// <summary>One entry of a zip archive's central directory, with the file offset of its data.</summary>
/// <param name="Name">The entry name, e.g. <c>archive/data/0</c>.</param>
/// <param name="Method">Compression method: 0 stored, 8 deflate (others are refused when read).</param>
/// <param name="CompressedSize">Bytes of (possibly compressed) data in the file.</param>
/// <param name="Size">Bytes once decompressed.</param>
/// <param name="Crc32">CRC-32 of the uncompressed bytes.</param>
/// <param name="DataOffset">File offset of the first data byte (after the local header).</param>
internal sealed record ZipEntry(string Name, int Method, long CompressedSize, long Size, uint Crc32, long DataOffset)
{
    /// <summary>Zip method 0: stored, not compressed.</summary>
    public const int Stored = 0;

    /// <summary>Zip method 8: deflate.</summary>
    public const int Deflated = 8;
}
