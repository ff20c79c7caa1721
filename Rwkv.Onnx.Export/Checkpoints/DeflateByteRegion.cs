using System.IO.Compression;
using Microsoft.Win32.SafeHandles;

namespace Rwkv.Onnx.Export.Checkpoints;

/// <summary>
/// The uncompressed bytes of a deflate-compressed zip entry. Reads stream forward through one
/// decompressor; a read before the current position restarts it from the entry's start. Nothing beyond
/// a small skip buffer is held, whatever the entry's size. Thread-safe (reads are serialised).
/// </summary>
internal sealed class DeflateByteRegion(SafeFileHandle handle, object owner, string path, string entryName, long start, long compressedLength, long length, uint crc32)
    : ByteRegion(path, length), IDisposable
{
    private readonly Lock _lock = new();
    private DeflateStream? _stream;
    private long _position;
    private bool _verified;

    protected override void ReadCore(long offset, Span<byte> destination, string tensorName)
    {
        ObjectDisposedException.ThrowIf(handle.IsClosed, owner);
        lock (_lock)
        {
            try
            {
                if (_stream is null || offset < _position)
                {
                    _stream?.Dispose();
                    _stream = new DeflateStream(new FileSliceStream(handle, start, compressedLength), CompressionMode.Decompress);
                    _position = 0;
                }
                Span<byte> skip = stackalloc byte[4096];
                while (_position < offset)
                {
                    int read = _stream.Read(skip[..(int)Math.Min(skip.Length, offset - _position)]);
                    _position += read > 0 ? read : throw Truncated(tensorName);
                }
                while (!destination.IsEmpty)
                {
                    int read = _stream.Read(destination);
                    destination = destination[(read > 0 ? read : throw Truncated(tensorName))..];
                    _position += read;
                }
            }
            catch (InvalidDataException e)
            {
                _stream?.Dispose();
                _stream = null;
                throw new CheckpointFormatException(Path, tensorName,
                    $"Checkpoint '{Path}' has corrupt compressed data in zip entry '{entryName}' (tensor '{tensorName}'): {e.Message}", e);
            }
        }
    }

    /// <summary>
    /// Decompresses the whole entry once (the first time only), through a small buffer, and checks that it inflates to
    /// exactly <see cref="ByteRegion.Length"/> bytes with the CRC-32 of the zip directory. A directory may declare any size
    /// up to deflate's 1032:1 limit; checking it before a buffer is sized from it keeps a small file that lies about its
    /// entry sizes from costing more memory than the file's own size.
    /// </summary>
    /// <exception cref="CheckpointFormatException">The entry inflates to another size or CRC, or its data is corrupt.</exception>
    public override void Validate(string tensorName)
    {
        lock (_lock)
        {
            if (!_verified)
            {
                Verify(tensorName);
                _verified = true;
            }
        }
    }

    private void Verify(string tensorName)
    {
        ObjectDisposedException.ThrowIf(handle.IsClosed, owner);
        string what = tensorName == entryName ? $"zip entry '{entryName}'" : $"zip entry '{entryName}' (tensor '{tensorName}')";
        byte[] buffer = new byte[1 << 16];
        long total = 0;
        uint register = 0xffffffff;
        try
        {
            using var stream = new DeflateStream(new FileSliceStream(handle, start, compressedLength), CompressionMode.Decompress);
            int read;
            while ((read = stream.Read(buffer)) > 0)
            {
                total += read;
                if (total > Length)
                {
                    break;
                }
                register = Crc32.Update(register, buffer.AsSpan(0, read));
            }
        }
        catch (InvalidDataException e)
        {
            throw new CheckpointFormatException(Path, tensorName, $"Checkpoint '{Path}' has corrupt compressed data in {what}: {e.Message}", e);
        }
        if (total != Length)
        {
            throw new CheckpointFormatException(Path, tensorName,
                $"Checkpoint '{Path}': {what} decompresses to {(total > Length ? $"more than {Length}" : total.ToString(System.Globalization.CultureInfo.InvariantCulture))} bytes; its directory declares {Length}.");
        }
        if (~register != crc32)
        {
            throw new CheckpointFormatException(Path, tensorName,
                $"Checkpoint '{Path}': {what} has CRC-32 0x{~register:x8}; its directory records 0x{crc32:x8}. The archive is corrupt.");
        }
    }

    /// <summary>Releases the decompressor, if one is open.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            _stream?.Dispose();
            _stream = null;
        }
    }

    private CheckpointFormatException Truncated(string tensorName)
    {
        _stream?.Dispose();
        _stream = null;
        return new CheckpointFormatException(Path, tensorName,
            $"Checkpoint '{Path}': zip entry '{entryName}' (tensor '{tensorName}') decompresses to {_position} bytes; its directory declares {Length}.");
    }

    /// <summary>A read-only stream over bytes <c>[start, start + length)</c> of a file.</summary>
    private sealed class FileSliceStream(SafeFileHandle handle, long start, long length) : Stream
    {
        private long _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => length;

        public override long Position
        {
            get => _position;
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            int count = (int)Math.Min(buffer.Length, length - _position);
            if (count <= 0)
            {
                return 0;
            }
            int read = RandomAccess.Read(handle, buffer[..count], start + _position);
            _position += read;
            return read;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
