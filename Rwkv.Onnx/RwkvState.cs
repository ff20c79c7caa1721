using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.ML.OnnxRuntime;
using Rwkv.Onnx.Exceptions;

namespace Rwkv.Onnx;

/// <summary>
/// The recurrent state of <see cref="BatchSize"/> sequences for one <see cref="RwkvModel"/>: one float32
/// buffer per state tensor of the manifest, shaped <c>[batch, ...shape]</c>. Create it with
/// <see cref="RwkvModel.CreateState"/>, <see cref="Clone"/> or <see cref="Load"/>.
/// </summary>
/// <remarks>
/// Each buffer exists twice, so a run reads the past state from one set and writes the present state into
/// the other; the sets then swap roles, with no copy. With <see cref="RwkvStateLocation.Device"/> the two sets
/// live in the provider's memory: runs read and write them there, and the state is copied to the host
/// buffers only when something reads or changes it on the host (saving, cloning, copying, resetting).
/// A state belongs to one conversation and is not thread-safe: a second thread that runs, copies, resets or
/// saves it while another thread does throws <see cref="InvalidOperationException"/> rather than mixing two
/// conversations. It refuses every operation except <see cref="Dispose"/> once it or its model is disposed. A state never holds NaN or an infinity
/// from outside: <see cref="Load"/> and <see cref="FromTimeState"/> reject such values with
/// <see cref="NonFiniteValueException"/>, naming the tensor and index.
/// </remarks>
public sealed partial class RwkvState : IDisposable
{
    /// <summary>
    /// Version of the <see cref="Save"/> format. Version 2 records each tensor's layout (its axis names in the manifest),
    /// so a state saved for another layout (RWKV-5 exports before format 2 kept <c>wkv</c> as [head][key][value]) is
    /// refused instead of loaded transposed.
    /// </summary>
    public const int SaveFormatVersion = 2;

    private const uint SaveMagic = 0x534B5752; // "RWKS" in little-endian byte order.

    private readonly RwkvModel _model;
    private readonly float[][][] _buffers; // [set][tensor], set 0 or 1
    private readonly OrtValue[][] _values; // OrtValues over _buffers, same indices
    private readonly DeviceStateBuffers? _device; // the same two sets in the provider's memory, when the model keeps states there
    private readonly LifetimeGate _gate;
    private int _current;
    private bool _hostValid = true; // the host buffers of set _current hold the state
    private bool _deviceValid; // the device tensors of set _current hold the state

    internal RwkvState(RwkvModel model, int batchSize)
    {
        AvailableMemory.Require(RwkvMemoryEstimate.ForState(model.Manifest, batchSize), $"A state of {batchSize} sequences");
        _model = model;
        _gate = new LifetimeGate(this, exclusive: true);
        BatchSize = batchSize;
        IReadOnlyList<RwkvStateTensorInfo> tensors = model.Manifest.State;
        _buffers = new float[2][][];
        _values = [new OrtValue[tensors.Count], new OrtValue[tensors.Count]];
        try
        {
            for (int set = 0; set < 2; set++)
            {
                _buffers[set] = new float[tensors.Count][];
                for (int i = 0; i < tensors.Count; i++)
                {
                    long[] shape = [batchSize, .. tensors[i].Shape.Select(d => (long)d)];
                    long length = shape.Aggregate(1L, (product, d) => product * d);
                    if (length > Array.MaxLength)
                    {
                        throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize,
                            $"State tensor '{tensors[i].Input}' would hold {length} elements for batch size {batchSize}; at most {Array.MaxLength} fit in one buffer.");
                    }
                    // Pinned-heap arrays: OrtValue pins them anyway, for the state's lifetime.
                    _buffers[set][i] = GC.AllocateUninitializedArray<float>((int)length, pinned: true);
                    _values[set][i] = OrtValue.CreateTensorValueFromMemory(_buffers[set][i], shape);
                }
            }
            if (model.StateOnDevice)
            {
                _device = model.AllocateDeviceState([.. _values[0].Select(v => v.GetTensorTypeAndShape().Shape)]);
            }
        }
        catch
        {
            DisposeValues();
            throw;
        }
        ResetBuffers();
    }

    /// <summary>The number of sequences this state holds.</summary>
    public int BatchSize { get; }

    internal RwkvModel Model => _model;

    /// <summary>Index (0 or 1) of the buffer set that holds the current state.</summary>
    internal int CurrentSet => _current;

    /// <summary>
    /// The host buffers of the current state, one per manifest state tensor, each <c>batch·prod(shape)</c> floats,
    /// for reading: a device-resident state is copied to them first.
    /// </summary>
    internal float[][] Current
    {
        get
        {
            CopyToHost();
            return _buffers[_current];
        }
    }

    /// <summary>Whether the current state is in the device tensors (so a run reads them, not the host buffers).</summary>
    internal bool PastOnDevice => _deviceValid;

    /// <summary>The host OrtValues of buffer set <paramref name="set"/>, in manifest order. They live as long as this state.</summary>
    internal OrtValue[] HostValues(int set) => _values[set];

    /// <summary>The device tensors of buffer set <paramref name="set"/>; only for a device-resident state.</summary>
    internal OrtValue[] DeviceValues(int set) => _device!.Set(set);

    /// <summary>Where a run that reads set <paramref name="set"/> writes the present state: the other set, on the device if the state lives there.</summary>
    internal OrtValue[] PresentValues(int set) => _device is null ? _values[set ^ 1] : _device.Set(set ^ 1);

    /// <summary>The current state as a run's inputs: the device tensors when they hold it, else the host buffers.</summary>
    internal OrtValue[] PastValues => _deviceValid ? _device!.Set(_current) : _values[_current];

    /// <summary>Makes the other buffer set current, after a run wrote the present state into <see cref="PresentValues"/>.</summary>
    internal void CompleteRun()
    {
        _current ^= 1;
        if (_device is not null)
        {
            _deviceValid = true;
            _hostValid = false;
        }
    }

    // Brings a device-resident current state to the host buffers, once per change on the device.
    private void CopyToHost()
    {
        if (!_hostValid)
        {
            _model.CopyState(_device!.Set(_current), _values[_current]);
            _hostValid = true;
        }
    }

    /// <summary>The host buffers of the current state, up to date, for a change that keeps part of them.</summary>
    internal float[][] HostForUpdate()
    {
        CopyToHost();
        _deviceValid = false;
        return _buffers[_current];
    }

    /// <summary>The host buffers of the current state, for a change that overwrites all of them.</summary>
    internal float[][] HostForOverwrite()
    {
        _hostValid = true;
        _deviceValid = false;
        return _buffers[_current];
    }

    /// <summary>Claims this state for one operation; pair with <see cref="ExitUse"/>. <see cref="Dispose"/> waits for it.</summary>
    /// <exception cref="ObjectDisposedException">The state or its model has been disposed.</exception>
    /// <exception cref="InvalidOperationException">Another thread is using the state.</exception>
    internal void EnterUse()
    {
        _gate.Enter();
        if (_model.IsDisposed)
        {
            _gate.Exit();
            ThrowModelDisposed();
        }
    }

    /// <summary>Ends an operation started with <see cref="EnterUse"/>.</summary>
    internal void ExitUse() => _gate.Exit();

    /// <summary>Sets every sequence back to the model's initial state (each tensor's <c>initial</c> value).</summary>
    /// <exception cref="ObjectDisposedException">The state or its model has been disposed.</exception>
    /// <exception cref="InvalidOperationException">Another thread is using the state.</exception>
    public void Reset()
    {
        EnterUse();
        try
        {
            ResetBuffers();
        }
        finally
        {
            ExitUse();
        }
    }

    /// <summary>Creates an independent copy of this state, for the same model and batch size.</summary>
    /// <returns>The copy; the caller disposes it.</returns>
    /// <exception cref="MemoryLimitExceededException">The copy would not fit in the available memory.</exception>
    /// <exception cref="ObjectDisposedException">The state or its model has been disposed.</exception>
    /// <exception cref="InvalidOperationException">Another thread is using the state.</exception>
    public RwkvState Clone()
    {
        EnterUse();
        try
        {
            var clone = new RwkvState(_model, BatchSize);
            clone.CopyBuffersFrom(this);
            return clone;
        }
        finally
        {
            ExitUse();
        }
    }

    /// <summary>Overwrites this state with the values of <paramref name="source"/>.</summary>
    /// <param name="source">A state of the same model instance and batch size.</param>
    /// <exception cref="ArgumentNullException"><paramref name="source"/> is null.</exception>
    /// <exception cref="StateMismatchException"><paramref name="source"/> belongs to another model or has another batch size.</exception>
    /// <exception cref="ObjectDisposedException">Either state or the model has been disposed.</exception>
    /// <exception cref="InvalidOperationException">Another thread is using either state.</exception>
    public void CopyFrom(RwkvState source)
    {
        ThrowIfUnusable();
        ArgumentNullException.ThrowIfNull(source);
        source.ThrowIfUnusable();
        if (ReferenceEquals(source, this))
        {
            return;
        }
        EnterUse();
        try
        {
            source.EnterUse();
            try
            {
                CopyFromCore(source);
            }
            finally
            {
                source.ExitUse();
            }
        }
        finally
        {
            ExitUse();
        }
    }

    private void CopyFromCore(RwkvState source)
    {
        if (!ReferenceEquals(source._model, _model))
        {
            throw new StateMismatchException(_model.ModelDirectory, source._model.ModelDirectory,
                $"Cannot copy a state of the model loaded from '{source._model.ModelDirectory}' into a state of another model instance (loaded from '{_model.ModelDirectory}').");
        }
        if (source.BatchSize != BatchSize)
        {
            throw new StateMismatchException($"batch {BatchSize}", $"batch {source.BatchSize}",
                $"Cannot copy a state of batch size {source.BatchSize} into a state of batch size {BatchSize}.");
        }
        CopyBuffersFrom(source);
    }

    private void CopyBuffersFrom(RwkvState source)
    {
        float[][] from = source.Current;
        float[][] to = HostForOverwrite();
        for (int i = 0; i < to.Length; i++)
        {
            from[i].CopyTo(to[i], 0);
        }
    }

    /// <summary>
    /// Overwrites sequence <paramref name="destinationRow"/> of this state with sequence <paramref name="sourceRow"/>
    /// of <paramref name="source"/> (which may be this state), for batched generation.
    /// </summary>
    /// <exception cref="StateMismatchException"><paramref name="source"/> belongs to another model instance.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A row is outside its state's batch.</exception>
    internal void CopyRowFrom(RwkvState source, int sourceRow, int destinationRow)
    {
        ThrowIfUnusable();
        ArgumentNullException.ThrowIfNull(source);
        source.ThrowIfUnusable();
        bool other = !ReferenceEquals(source, this);
        EnterUse();
        try
        {
            if (other)
            {
                source.EnterUse();
            }
            try
            {
                CopyRowFromCore(source, sourceRow, destinationRow);
            }
            finally
            {
                if (other)
                {
                    source.ExitUse();
                }
            }
        }
        finally
        {
            ExitUse();
        }
    }

    private void CopyRowFromCore(RwkvState source, int sourceRow, int destinationRow)
    {
        if (!ReferenceEquals(source._model, _model))
        {
            throw new StateMismatchException(_model.ModelDirectory, source._model.ModelDirectory,
                $"Cannot copy a sequence of a state of the model loaded from '{source._model.ModelDirectory}' into a state of another model instance.");
        }
        ArgumentOutOfRangeException.ThrowIfNegative(sourceRow);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(sourceRow, source.BatchSize);
        ArgumentOutOfRangeException.ThrowIfNegative(destinationRow);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(destinationRow, BatchSize);
        float[][] from = source.Current;
        float[][] to = HostForUpdate();
        for (int i = 0; i < to.Length; i++)
        {
            int rowLength = to[i].Length / BatchSize;
            Array.Copy(from[i], sourceRow * rowLength, to[i], destinationRow * rowLength, rowLength);
        }
    }

    /// <summary>
    /// Writes the state to <paramref name="stream"/>: a header (magic <c>RWKS</c>, <see cref="SaveFormatVersion"/>,
    /// layer count, embedding size, architecture version, batch size, tensor count, then per tensor its element count and
    /// its layout, the manifest's axis names joined by commas),
    /// then every tensor as little-endian float32, in manifest order. The stream is left open.
    /// </summary>
    /// <param name="stream">A writable stream.</param>
    /// <exception cref="ArgumentNullException"><paramref name="stream"/> is null.</exception>
    /// <exception cref="ObjectDisposedException">The state or its model has been disposed.</exception>
    /// <exception cref="InvalidOperationException">Another thread is using the state.</exception>
    public void Save(Stream stream)
    {
        ThrowIfUnusable();
        ArgumentNullException.ThrowIfNull(stream);
        EnterUse();
        try
        {
            SaveCore(stream);
        }
        finally
        {
            ExitUse();
        }
    }

    private void SaveCore(Stream stream)
    {
        RwkvArchitectureInfo architecture = _model.Manifest.Architecture;
        using var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
        writer.Write(SaveMagic);
        writer.Write(SaveFormatVersion);
        writer.Write(architecture.Layers);
        writer.Write(architecture.Embedding);
        writer.Write(architecture.Version);
        writer.Write(BatchSize);
        float[][] current = Current;
        writer.Write(current.Length);
        for (int i = 0; i < current.Length; i++)
        {
            writer.Write(current[i].Length);
            writer.Write(LayoutText(_model.Manifest.State[i]));
        }
        foreach (float[] buffer in current)
        {
            WriteLittleEndian(writer, buffer);
        }
    }

    /// <summary>Reads a state written by <see cref="Save"/> for <paramref name="model"/>. The stream is left open.</summary>
    /// <remarks>
    /// The header is checked against the model before anything is allocated from it, and the data it declares against
    /// the bytes the stream holds (a non-seekable stream is read into memory first, no further than the header
    /// declares), so a corrupt or hostile file costs at most memory in proportion to its own size.
    /// </remarks>
    /// <param name="model">The model the state is for; its layout must match the saved one.</param>
    /// <param name="stream">A readable stream positioned at the start of a saved state.</param>
    /// <returns>The state, with the saved batch size; the caller disposes it.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="InvalidDataException">The stream does not start with a saved RWKV state, or its header is corrupt.</exception>
    /// <exception cref="StateMismatchException">The saved state has another format version, or does not fit the model.</exception>
    /// <exception cref="EndOfStreamException">The stream ends before the state does.</exception>
    /// <exception cref="NonFiniteValueException">A saved value is NaN or infinite (the exception names the tensor and index).</exception>
    /// <exception cref="MemoryLimitExceededException">The state would not fit in the available memory.</exception>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public static RwkvState Load(RwkvModel model, Stream stream)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(stream);
        model.ThrowIfDisposed();
        RwkvManifest manifest = model.Manifest;
        int batchSize;
        long dataBytes;
        using (var reader = new BinaryReader(stream, Encoding.UTF8, leaveOpen: true))
        {
            try
            {
                (batchSize, dataBytes) = ReadHeader(manifest, reader);
            }
            catch (EndOfStreamException e)
            {
                throw new EndOfStreamException(
                    $"The saved state ends inside its header; a saved state of this model is {HeaderBytes(manifest) + DataBytes(manifest, 1)} bytes (batch size 1).", e);
            }
        }
        Stream data = stream;
        if (stream.CanSeek)
        {
            long remaining = stream.Length - stream.Position;
            if (remaining < dataBytes)
            {
                throw Truncated(manifest, batchSize, remaining);
            }
        }
        else
        {
            // Copied in pieces, so memory grows with the bytes that actually arrive, not with the declared size.
            var copy = new MemoryStream();
            byte[] chunk = new byte[1 << 16];
            while (copy.Length < dataBytes)
            {
                int read = stream.Read(chunk, 0, (int)Math.Min(chunk.Length, dataBytes - copy.Length));
                if (read == 0)
                {
                    throw Truncated(manifest, batchSize, copy.Length);
                }
                copy.Write(chunk, 0, read);
            }
            copy.Position = 0;
            data = copy;
        }

        var state = new RwkvState(model, batchSize);
        try
        {
            using var reader = new BinaryReader(data, Encoding.UTF8, leaveOpen: true);
            foreach (float[] buffer in state.HostForOverwrite())
            {
                ReadLittleEndian(reader, buffer);
            }
            state.ThrowIfNonFinite("the saved state");
            return state;
        }
        catch
        {
            state.Dispose();
            throw;
        }
    }

    private static EndOfStreamException Truncated(RwkvManifest manifest, int batchSize, long dataBytesPresent)
    {
        long header = HeaderBytes(manifest), data = DataBytes(manifest, batchSize);
        return new EndOfStreamException(
            $"The saved state is truncated: its header declares {data} bytes of data after its header (batch size {batchSize}, {header + data} bytes in all), " +
            $"but the stream holds {header + dataBytesPresent}.");
    }

    // The size of the header SaveCore writes for the manifest's model: magic, format version, layers, embedding,
    // version string, batch size, tensor count, then per tensor its element count and layout string (strings as
    // BinaryWriter writes them: 7-bit encoded length, then UTF-8).
    private static long HeaderBytes(RwkvManifest manifest) =>
        (4 * sizeof(int)) + ShortStringBytes(manifest.Architecture.Version) + (2 * sizeof(int))
        + manifest.State.Sum(s => sizeof(int) + ShortStringBytes(LayoutText(s)));

    private static long ShortStringBytes(string text)
    {
        int bytes = Encoding.UTF8.GetByteCount(text);
        int lengthPrefix = 1;
        for (int rest = bytes >> 7; rest > 0; rest >>= 7)
        {
            lengthPrefix++;
        }
        return lengthPrefix + bytes;
    }

    private static string LayoutText(RwkvStateTensorInfo tensor) => string.Join(",", tensor.Layout);

    private static long DataBytes(RwkvManifest manifest, int batchSize) =>
        manifest.State.Sum(s => s.Shape.Aggregate((long)batchSize, (product, d) => product * d)) * sizeof(float);

    // Reads and checks the header against the manifest; returns the batch size and the bytes of data that follow.
    private static (int BatchSize, long DataBytes) ReadHeader(RwkvManifest manifest, BinaryReader reader)
    {
        uint magic = reader.ReadUInt32();
        if (magic != SaveMagic)
        {
            throw new InvalidDataException($"The stream is not a saved RWKV state: it starts with 0x{magic:X8}; expected 0x{SaveMagic:X8} ('RWKS').");
        }
        int format = reader.ReadInt32();
        if (format == 1)
        {
            throw new StateMismatchException($"{SaveFormatVersion}", $"{format}",
                $"The saved state has format version 1, which does not record its tensors' layouts (RWKV-5's wkv state changed layout since); " +
                $"this runtime reads format {SaveFormatVersion}: rebuild the state with this model and save it again.");
        }
        Expect("format version", SaveFormatVersion, format);
        Expect("layer count", manifest.Architecture.Layers, reader.ReadInt32());
        Expect("embedding size", manifest.Architecture.Embedding, reader.ReadInt32());
        Expect("architecture version", manifest.Architecture.Version, ReadShortString(reader, "architecture version"));
        int batchSize = reader.ReadInt32();
        if (batchSize < 1)
        {
            throw new StateMismatchException("a batch size of at least 1", batchSize.ToString(CultureInfo.InvariantCulture), $"The saved state has batch size {batchSize}.");
        }
        Expect("state tensor count", manifest.State.Count, reader.ReadInt32());
        long dataBytes = 0;
        for (int i = 0; i < manifest.State.Count; i++)
        {
            // The saved count is an int32, so a product beyond it can never match; saturate instead of overflowing.
            long expected = manifest.State[i].Shape.Aggregate((long)batchSize, (product, d) => product <= int.MaxValue ? product * d : long.MaxValue);
            Expect($"element count of '{manifest.State[i].Input}'", expected, reader.ReadInt32());
            Expect($"layout of '{manifest.State[i].Input}'", LayoutText(manifest.State[i]), ReadShortString(reader, $"layout of '{manifest.State[i].Input}'"));
            dataBytes += expected * sizeof(float);
        }
        return (batchSize, dataBytes);
    }

    // A string as BinaryWriter.Write(string) writes it (7-bit encoded byte length, then UTF-8), at most 255 bytes.
    private static string ReadShortString(BinaryReader reader, string what)
    {
        int length;
        try
        {
            length = reader.Read7BitEncodedInt();
        }
        catch (FormatException e)
        {
            throw new InvalidDataException($"The saved state has a corrupt length for its {what}.", e);
        }
        if (length is < 0 or > byte.MaxValue)
        {
            throw new InvalidDataException($"The saved state declares a {what} of {length} bytes; at most {byte.MaxValue} are expected.");
        }
        byte[] bytes = reader.ReadBytes(length);
        return bytes.Length == length
            ? Encoding.UTF8.GetString(bytes)
            : throw new EndOfStreamException($"The saved state ends inside its {what}.");
    }

    /// <summary>
    /// Releases the OrtValues over the buffers. Safe to call more than once, from any thread, before or after the
    /// model's <see cref="RwkvModel.Dispose"/>; a call that races with a run on another thread waits for it to end.
    /// </summary>
    public void Dispose()
    {
        if (!_gate.Close())
        {
            return;
        }
        DisposeValues();
    }

    /// <summary>Throws if this state or its model has been disposed.</summary>
    internal void ThrowIfUnusable()
    {
        ObjectDisposedException.ThrowIf(_gate.IsClosed, this);
        if (_model.IsDisposed)
        {
            ThrowModelDisposed();
        }
    }

    /// <summary>Throws <see cref="NonFiniteValueException"/> if a current buffer holds NaN or an infinity.</summary>
    /// <param name="origin">Where the values came from, e.g. <c>the saved state</c>.</param>
    internal void ThrowIfNonFinite(string origin)
    {
        IReadOnlyList<RwkvStateTensorInfo> tensors = _model.Manifest.State;
        for (int i = 0; i < tensors.Count; i++)
        {
            NonFiniteValueException.ThrowIfAny(Current[i], tensors[i].Input, origin);
        }
    }

    private void ResetBuffers()
    {
        IReadOnlyList<RwkvStateTensorInfo> tensors = _model.Manifest.State;
        float[][] buffers = HostForOverwrite();
        for (int i = 0; i < tensors.Count; i++)
        {
            buffers[i].AsSpan().Fill(tensors[i].Initial);
        }
    }

    private static void ThrowModelDisposed() =>
        throw new ObjectDisposedException(nameof(RwkvModel), "The RwkvModel this state belongs to has been disposed.");

    private void DisposeValues()
    {
        _device?.Release();
        foreach (OrtValue[] set in _values)
        {
            foreach (OrtValue? value in set)
            {
                value?.Dispose();
            }
        }
    }

    private static void Expect<T>(string what, T expected, T actual)
    {
        if (!EqualityComparer<T>.Default.Equals(expected, actual))
        {
            throw new StateMismatchException($"{expected}", $"{actual}",
                $"The saved state has {what} {actual}; the model needs {expected}.");
        }
    }

    private static void WriteLittleEndian(BinaryWriter writer, float[] values)
    {
        Span<int> bits = MemoryMarshal.Cast<float, int>(values.AsSpan());
        if (!BitConverter.IsLittleEndian)
        {
            BinaryPrimitives.ReverseEndianness(bits, bits);
        }
        writer.Write(MemoryMarshal.AsBytes(bits));
        if (!BitConverter.IsLittleEndian)
        {
            BinaryPrimitives.ReverseEndianness(bits, bits);
        }
    }

    private static void ReadLittleEndian(BinaryReader reader, float[] values)
    {
        Span<byte> bytes = MemoryMarshal.AsBytes(values.AsSpan());
        while (!bytes.IsEmpty)
        {
            int read = reader.Read(bytes);
            if (read == 0)
            {
                throw new EndOfStreamException($"The saved state ends {bytes.Length} bytes early.");
            }
            bytes = bytes[read..];
        }
        if (!BitConverter.IsLittleEndian)
        {
            Span<int> bits = MemoryMarshal.Cast<float, int>(values.AsSpan());
            BinaryPrimitives.ReverseEndianness(bits, bits);
        }
    }
}
