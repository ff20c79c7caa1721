using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Rwkv.Onnx.Exceptions;

namespace Rwkv.Onnx;

/// <summary>
/// Hands the weights both graphs read to ONNX Runtime as shared initializers over one read-only mapping of the
/// weights file, so the step and prefill sessions pre-pack each matrix once, into the model's
/// <see cref="PrePackedWeightsContainer"/>. ONNX Runtime shares pre-packed weights between sessions only for
/// initializers added with <see cref="SessionOptions.AddInitializer"/>; loaded from the graphs' external data, each
/// session packed its own copy. The mapped pages are released while the sessions pack and once they exist, so the file
/// and the packed copy are not resident together. A manifest whose <see cref="RwkvManifest.SessionConfig"/> turns
/// pre-packing off leaves the mapping resident, since the sessions then compute from it. The tensors come from the
/// manifest's list
/// (<see cref="RwkvFileInfo.Tensors"/>), so the runtime reads no graph to find them.
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
    /// Maps the weights file and adds every tensor the manifest lists in it (<see cref="RwkvFileInfo.Tensors"/>) to
    /// <paramref name="sessionOptions"/>, under its initializer name. The options must not outlive the returned object.
    /// </summary>
    /// <exception cref="ModelContractException">A listed tensor names bytes outside the weights file, a size its shape and dtype do not have, or a dtype the runtime does not share.</exception>
    public static SharedWeights Create(string directory, RwkvManifest manifest, IReadOnlyList<RwkvTensorInfo> tensors, SessionOptions sessionOptions)
    {
        string manifestPath = Path.Combine(directory, RwkvContract.ManifestFile);
        string weightsPath = Path.Combine(directory, manifest.Weights.File);
        long fileLength = new FileInfo(weightsPath).Length;
        MemoryMappedFile file = MemoryMappedFile.CreateFromFile(weightsPath, FileMode.Open, mapName: null, capacity: 0, MemoryMappedFileAccess.Read);
        SharedWeights? weights = null;
        try
        {
            weights = new SharedWeights(file, file.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read));
            foreach (RwkvTensorInfo tensor in tensors)
            {
                (long offset, long length) = (tensor.Offset, tensor.Length);
                if (offset < 0 || length < 0)
                {
                    throw new ModelContractException(manifestPath, tensor.Name,
                        $"Manifest '{manifestPath}' gives weight '{tensor.Name}' offset {offset} and length {length}; expected a non-negative integer for each.");
                }
                if (offset > fileLength - length)
                {
                    throw new ModelContractException(manifestPath, tensor.Name,
                        $"Manifest '{manifestPath}' places weight '{tensor.Name}' at bytes [{offset}, {offset + length}) of '{manifest.Weights.File}', which has {fileLength}.");
                }
                weights.Add(tensor, sessionOptions, manifestPath);
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

    /// <summary>
    /// Releases the mapped pages every <paramref name="interval"/> until the returned object is disposed. Pre-packing
    /// reads each matrix through the mapping once, into its packed copy; dropping the pages it has read as it goes keeps
    /// the file and the packed copies from being resident together, so the peak during load is about one copy, not two.
    /// Dispose the returned object before this one: it stops the releases, waiting for one in progress.
    /// </summary>
    public IDisposable ReleasePagesPeriodically(TimeSpan interval) => new PageReleaser(this, interval);

    private sealed class PageReleaser : IDisposable
    {
        private readonly Lock _lock = new();
        private readonly Timer _timer;
        private bool _stopped;

        public PageReleaser(SharedWeights weights, TimeSpan interval) => _timer = new Timer(_ =>
        {
            lock (_lock)
            {
                if (!_stopped)
                {
                    weights.ReleaseResidentPages();
                }
            }
        }, null, interval, interval);

        public void Dispose()
        {
            lock (_lock) // after this, no release runs: the mapping may be unmapped and its addresses reused
            {
                _stopped = true;
            }
            _timer.Dispose();
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

    private void Add(RwkvTensorInfo tensor, SessionOptions sessionOptions, string manifestPath)
    {
        (TensorElementType type, int elementSize) = tensor.DType switch
        {
            "float32" => (TensorElementType.Float, 4),
            "float16" => (TensorElementType.Float16, 2),
            "uint8" => (TensorElementType.UInt8, 1),
            "int8" => (TensorElementType.Int8, 1),
            "int32" => (TensorElementType.Int32, 4),
            "int64" => (TensorElementType.Int64, 8),
            _ => throw new ModelContractException(manifestPath, tensor.Name,
                $"Manifest '{manifestPath}' gives weight '{tensor.Name}' the dtype '{tensor.DType}'; expected float32, float16, uint8, int8, int32 or int64."),
        };
        long elements = 1;
        foreach (long dim in tensor.Shape)
        {
            elements = dim < 0 || (dim > 0 && elements > long.MaxValue / dim) ? -1 : elements * dim;
            if (elements < 0)
            {
                break;
            }
        }
        if (elements < 0 || elements > long.MaxValue / elementSize || elements * elementSize != tensor.Length)
        {
            throw new ModelContractException(manifestPath, tensor.Name,
                $"Manifest '{manifestPath}' gives weight '{tensor.Name}' the shape [{string.Join(", ", tensor.Shape)}] ({tensor.DType}) but {tensor.Length} bytes.");
        }
        var value = OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, type, [.. tensor.Shape], (IntPtr)(_base + tensor.Offset), tensor.Length);
        _values.Add(value);
        sessionOptions.AddInitializer(tensor.Name, value);
    }

    [LibraryImport("libc", EntryPoint = "madvise")]
    private static partial int Madvise(nint address, nuint length, int advice);
}
