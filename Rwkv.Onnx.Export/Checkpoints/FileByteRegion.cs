using Microsoft.Win32.SafeHandles;

namespace Rwkv.Onnx.Export.Checkpoints;

/// <summary>Bytes <c>[start, start + length)</c> of a file, read in place with <see cref="RandomAccess"/>.</summary>
internal sealed class FileByteRegion(SafeFileHandle handle, object owner, string path, long start, long length) : ByteRegion(path, length)
{
    protected override void ReadCore(long offset, Span<byte> destination, string tensorName)
    {
        ObjectDisposedException.ThrowIf(handle.IsClosed, owner);
        long position = start + offset;
        while (!destination.IsEmpty)
        {
            int read = RandomAccess.Read(handle, destination, position);
            if (read <= 0)
            {
                throw new CheckpointFormatException(Path, tensorName,
                    $"Checkpoint '{Path}' ended at byte {position} while reading tensor '{tensorName}'; the file is truncated or changed since it was opened.");
            }
            destination = destination[read..];
            position += read;
        }
    }
}
