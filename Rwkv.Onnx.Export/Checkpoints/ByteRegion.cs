namespace Rwkv.Onnx.Export.Checkpoints;

/// <summary>
/// The bytes a tensor's data is read from: a region of an open file (<see cref="FileByteRegion"/>) or a
/// compressed zip entry (<see cref="DeflateByteRegion"/>). Reads are positioned and never load more than asked.
/// </summary>
internal abstract class ByteRegion(string path, long length)
{
    /// <summary>The file the bytes come from, for messages.</summary>
    public string Path { get; } = path;

    /// <summary>Number of bytes in the region.</summary>
    public long Length { get; } = length;

    /// <summary>Reads exactly <c>destination.Length</c> bytes starting <paramref name="offset"/> bytes into the region.</summary>
    /// <exception cref="ObjectDisposedException">The file was closed.</exception>
    /// <exception cref="CheckpointFormatException">The file ends early or its data is corrupt.</exception>
    public void Read(long offset, Span<byte> destination, string tensorName)
    {
        if (offset < 0 || offset > Length - destination.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), offset,
                $"Bytes [{offset}, {offset + destination.Length}) are outside the {Length}-byte region of '{Path}'.");
        }
        ReadCore(offset, destination, tensorName);
    }

    /// <summary>
    /// Checks, before a caller sizes a buffer from <see cref="Length"/>, that the region really holds that many bytes.
    /// A file region was checked against the file length when it was opened; a compressed one is checked here.
    /// </summary>
    /// <exception cref="CheckpointFormatException">The region holds fewer (or other) bytes than declared.</exception>
    public virtual void Validate(string tensorName)
    {
    }

    /// <summary>Reads bytes already checked to lie inside the region.</summary>
    protected abstract void ReadCore(long offset, Span<byte> destination, string tensorName);
}
