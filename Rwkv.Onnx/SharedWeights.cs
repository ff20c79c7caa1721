using System.Globalization;
using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Rwkv.Onnx.Exceptions;
using Rwkv.Onnx.Proto;

namespace Rwkv.Onnx;

/// <summary>
/// Hands the weights both graphs read to ONNX Runtime as shared initializers over one read-only mapping of the
/// weights file. Float exports run without pre-packing (<see cref="RwkvManifest.SessionConfig"/>), so both sessions
/// compute from this one mapping: loaded from the graphs' external data, each session would map the file itself and
/// the process would count its pages twice. Quantized exports pre-pack each matrix once, into the model's
/// <see cref="PrePackedWeightsContainer"/>, which ONNX Runtime shares between sessions only for initializers added
/// with <see cref="SessionOptions.AddInitializer"/>.
/// </summary>
internal sealed unsafe partial class SharedWeights : IDisposable
{
    private const int MadviseDontNeed = 4; // MADV_DONTNEED on Linux


    private readonly MemoryMappedFile _file;
    private readonly MemoryMappedViewAccessor _view;
    private readonly List<OrtValue> _values = [];
    private byte* _base;

    private SharedWeights(MemoryMappedFile file, MemoryMappedViewAccessor view)
    {
        _file = file;
        _view = view;
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref _base);
    }

    /// <summary>The number of initializers added to the session options.</summary>
    public int Count => _values.Count;

    /// <summary>
    /// Maps the weights file and adds every initializer of <paramref name="model"/> (the graph in
    /// <paramref name="graphFile"/>) stored in it to <paramref name="sessionOptions"/>. The options must not outlive
    /// the returned object.
    /// </summary>
    /// <exception cref="ModelContractException">An initializer names bytes outside the weights file, or a size its shape does not have.</exception>
    public static SharedWeights Create(string directory, RwkvManifest manifest, string graphFile, ModelProto model, SessionOptions sessionOptions)
    {
        string graphPath = Path.Combine(directory, graphFile);
        string weightsPath = Path.Combine(directory, manifest.Weights.File);
        long fileLength = new FileInfo(weightsPath).Length;
        MemoryMappedFile file = MemoryMappedFile.CreateFromFile(weightsPath, FileMode.Open, mapName: null, capacity: 0, MemoryMappedFileAccess.Read);
        SharedWeights? weights = null;
        try
        {
            weights = new SharedWeights(file, file.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read));
            foreach (TensorProto tensor in model.Graph.Initializer)
            {
                if (tensor.DataLocation != TensorProto.Types.DataLocation.External)
                {
                    continue;
                }
                (string location, long offset, long length) = ExternalData(tensor, graphPath);
                if (location != manifest.Weights.File)
                {
                    continue;
                }
                if (offset < 0 || length < 0 || offset > fileLength - length)
                {
                    throw new ModelContractException(graphPath, tensor.Name,
                        $"Initializer '{tensor.Name}' of graph '{graphPath}' names bytes [{offset}, {offset + length}) of '{manifest.Weights.File}', which has {fileLength}.");
                }
                weights.Add(tensor, offset, length, sessionOptions, graphPath);
            }
            return weights;
        }
        catch
        {
            if (weights is null)
            {
                file.Dispose();
            }
            weights?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Drops the mapped pages from this process's resident set once pre-packed sessions exist. Pre-packing read every
    /// matrix through the mapping, but the sessions compute from their packed copies, so those pages would only
    /// inflate RSS (by the size of the weights file); the few still read (the embedding rows, the norms) fault
    /// back in from the page cache. Linux only; elsewhere the pages stay until the system reclaims them.
    /// </summary>
    public void ReleaseResidentPages()
    {
        if (OperatingSystem.IsLinux() && _base is not null)
        {
            // Best effort: a failure only leaves the pages resident.
            _ = Madvise((nint)_base, (nuint)_view.Capacity, MadviseDontNeed);
        }
    }

    public void Dispose()
    {
        foreach (OrtValue value in _values)
        {
            value.Dispose();
        }
        _values.Clear();
        if (_base is not null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _base = null;
        }
        _view.Dispose();
        _file.Dispose();
    }

    private void Add(TensorProto tensor, long offset, long length, SessionOptions sessionOptions, string graphPath)
    {
        TensorElementType type = (TensorProto.Types.DataType)tensor.DataType switch
        {
            TensorProto.Types.DataType.Float => TensorElementType.Float,
            TensorProto.Types.DataType.Float16 => TensorElementType.Float16,
            TensorProto.Types.DataType.Uint8 => TensorElementType.UInt8,
            TensorProto.Types.DataType.Int8 => TensorElementType.Int8,
            TensorProto.Types.DataType.Int32 => TensorElementType.Int32,
            TensorProto.Types.DataType.Int64 => TensorElementType.Int64,
            _ => throw new ModelContractException(graphPath, tensor.Name,
                $"Initializer '{tensor.Name}' of graph '{graphPath}' has ONNX data type {tensor.DataType}, which the runtime does not share."),
        };
        long elements = 1;
        foreach (long dim in tensor.Dims)
        {
            elements = dim < 0 || (dim > 0 && elements > long.MaxValue / dim) ? -1 : elements * dim;
            if (elements < 0)
            {
                break;
            }
        }
        int elementSize = type switch { TensorElementType.Float or TensorElementType.Int32 => 4, TensorElementType.Float16 => 2, TensorElementType.Int64 => 8, _ => 1 };
        if (elements < 0 || elements > long.MaxValue / elementSize || elements * elementSize != length)
        {
            throw new ModelContractException(graphPath, tensor.Name,
                $"Initializer '{tensor.Name}' of graph '{graphPath}' has shape [{string.Join(", ", tensor.Dims)}] but {length} bytes of external data.");
        }
        var value = OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, type, [.. tensor.Dims], (IntPtr)(_base + offset), length);
        _values.Add(value);
        sessionOptions.AddInitializer(tensor.Name, value);
    }

    [LibraryImport("libc", EntryPoint = "madvise")]
    private static partial int Madvise(nint address, nuint length, int advice);

    private static (string Location, long Offset, long Length) ExternalData(TensorProto tensor, string graphPath)
    {
        string location = "";
        long offset = 0, length = -1;
        foreach (StringStringEntryProto entry in tensor.ExternalData)
        {
            switch (entry.Key)
            {
                case "location":
                    location = entry.Value;
                    break;
                case "offset":
                    offset = ParseExternalNumber(tensor, entry, graphPath);
                    break;
                case "length":
                    length = ParseExternalNumber(tensor, entry, graphPath);
                    break;
            }
        }
        return (location, offset, length);
    }

    private static long ParseExternalNumber(TensorProto tensor, StringStringEntryProto entry, string graphPath) =>
        long.TryParse(entry.Value, NumberStyles.None, CultureInfo.InvariantCulture, out long value)
            ? value
            : throw new ModelContractException(graphPath, tensor.Name,
                $"Initializer '{tensor.Name}' of graph '{graphPath}' has external data {entry.Key} '{entry.Value}'; expected a non-negative integer.");
}
