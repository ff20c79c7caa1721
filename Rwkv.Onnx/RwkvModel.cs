using System.Globalization;
using System.Security.Cryptography;
using Microsoft.ML.OnnxRuntime;
using Rwkv.Onnx.Exceptions;

namespace Rwkv.Onnx;

/// <summary>
/// An exported RWKV model directory loaded into two ONNX Runtime sessions: the one-token step graph and
/// the chunked prefill graph. Create states with <see cref="CreateState"/> and runners with
/// <see cref="CreateRunner"/>.
/// </summary>
/// <remarks>
/// The model is safe to share across threads; each conversation uses its own <see cref="RwkvRunner"/>
/// and <see cref="RwkvState"/>. The model owns its sessions and releases them in <see cref="Dispose"/>;
/// states and runners created from it refuse to run afterwards (<see cref="ObjectDisposedException"/>), and
/// may be disposed before or after it, in any order. <see cref="Dispose"/> may race with runs on other
/// threads: it waits for the runs in progress to finish before releasing the sessions, and later runs throw.
/// </remarks>
public sealed class RwkvModel : IDisposable
{
    private const string CudaProviderName = "CUDAExecutionProvider";
    private const string DirectMLProviderName = "DmlExecutionProvider";
    private const string DisabledOptimizersKey = "optimization.disable_specified_optimizers";

    private readonly SessionOptions _sessionOptions;
    private readonly PrePackedWeightsContainer _prepackedWeights;
    private readonly SharedWeights? _sharedWeights;
    private readonly InferenceSession _stepSession;
    private readonly InferenceSession _prefillSession;
    private readonly DeviceState? _deviceState;
    private readonly LifetimeGate _gate;

    // The estimated step (index 0) and prefill (index 1) activations of the largest run so far: ONNX Runtime's arena keeps
    // what a run allocated for later runs, so a run needs new memory only for what exceeds this.
    private readonly long[] _activationHighWater = new long[2];

    private RwkvModel(string directory, RwkvManifest manifest, RwkvModelOptions options, SessionOptions sessionOptions,
        SharedWeights? sharedWeights, PrePackedWeightsContainer prepackedWeights, InferenceSession stepSession, InferenceSession prefillSession,
        DeviceState? deviceState)
    {
        _sharedWeights = sharedWeights;
        _deviceState = deviceState;
        _prepackedWeights = prepackedWeights;
        ModelDirectory = directory;
        Manifest = manifest;
        Options = options;
        _sessionOptions = sessionOptions;
        _stepSession = stepSession;
        _prefillSession = prefillSession;
        _gate = new LifetimeGate(this, exclusive: false);
        StateInputNames = [.. manifest.State.Select(s => s.Input)];
        StateOutputNames = [.. manifest.State.Select(s => s.Output)];
    }

    /// <summary>The model directory this model was loaded from.</summary>
    public string ModelDirectory { get; }

    /// <summary>The model's manifest.</summary>
    public RwkvManifest Manifest { get; }

    /// <summary>The number of logits per position, <c>Manifest.Architecture.Vocab</c>.</summary>
    public int VocabSize => Manifest.Architecture.Vocab;

    internal RwkvModelOptions Options { get; }

    internal string[] StateInputNames { get; }

    internal string[] StateOutputNames { get; }

    /// <summary>Whether states keep their tensors in the provider's memory (see <see cref="RwkvStateLocation.Device"/>).</summary>
    internal bool StateOnDevice => _deviceState is not null;

    /// <summary>How many state copies between host and device have run; tests use it to prove a decode loop copies nothing.</summary>
    internal int StateCopyCount => _deviceState?.Copier.CopyCount ?? 0;

    internal bool IsDisposed => _gate.IsClosed;

    /// <summary>How many weights the sessions share from one mapping of the weights file (0 when they load their own).</summary>
    internal int SharedWeightCount => _sharedWeights?.Count ?? 0;

    /// <summary>Whether graph runs allocate their activations in host memory (the CPU provider), where they are checked.</summary>
    internal bool ActivationsOnHost => Options.ExecutionProvider == RwkvExecutionProvider.Cpu;

    /// <summary>
    /// Checks that <paramref name="estimate"/> fits in the available memory, counting of its activations only what exceeds
    /// the largest earlier run of the same graph, and records them as the new high-water mark.
    /// </summary>
    /// <exception cref="MemoryLimitExceededException">The run does not fit.</exception>
    internal void RequireMemory(RwkvMemoryEstimate estimate, bool prefill, string run)
    {
        int graph = prefill ? 1 : 0;
        long reserved = Interlocked.Read(ref _activationHighWater[graph]);
        AvailableMemory.Require(estimate with { ActivationBytes = Math.Max(0, estimate.ActivationBytes - reserved) }, run);
        long seen;
        while ((seen = Interlocked.Read(ref _activationHighWater[graph])) < estimate.ActivationBytes
            && Interlocked.CompareExchange(ref _activationHighWater[graph], estimate.ActivationBytes, seen) != seen)
        {
        }
    }

    internal InferenceSession StepSession
    {
        get
        {
            ThrowIfDisposed();
            return _stepSession;
        }
    }

    internal InferenceSession PrefillSession
    {
        get
        {
            ThrowIfDisposed();
            return _prefillSession;
        }
    }

    /// <summary>
    /// Whether inputs bound through an <see cref="OrtIoBinding"/> must be re-bound before every run.
    /// ONNX Runtime copies a bound CPU input to the device once, at binding time, so on a GPU provider
    /// a pre-built binding would keep feeding the values it saw when it was bound.
    /// </summary>
    internal bool RebindInputsEachRun => Options.ExecutionProvider != RwkvExecutionProvider.Cpu;

    /// <summary>
    /// Loads an exported model directory: reads <see cref="RwkvContract.ManifestFile"/>, checks that the
    /// files it names exist and that the weights file has the manifest's size (and, with
    /// <see cref="RwkvModelOptions.VerifyChecksums"/>, its SHA-256), creates the step and prefill sessions on the
    /// requested execution provider (on the CPU sharing the weights the manifest lists, from one mapping of the weights
    /// file), and checks their inputs and outputs (names, element types, shapes) against the manifest and that the
    /// manifest embedded in each graph (read through ONNX Runtime's model metadata) describes the same architecture and
    /// weights file, so a graph copied from another export is refused.
    /// </summary>
    /// <param name="directory">The directory written by the exporter.</param>
    /// <param name="options">Session settings; null for the defaults (CPU).</param>
    /// <returns>The loaded model; the caller disposes it.</returns>
    /// <exception cref="ArgumentException"><paramref name="directory"/> is null or empty.</exception>
    /// <exception cref="ModelContractException">
    /// The directory, manifest or a file it names is missing or invalid; the manifest has a format version
    /// this runtime does not read; the weights file has another size (or, when verified, SHA-256) than the
    /// manifest records; ONNX Runtime cannot load a graph (not a valid ONNX model, an unknown operator; the
    /// <see cref="OnnxRuntimeException"/> is the inner exception); a weight the manifest lists lies outside the
    /// weights file or has a size its shape and dtype do not give; a graph lacks an input or output the manifest names, or has another element type or shape
    /// than the manifest and the contract give it (tokens int64, logits float32, state of the manifest's dtype and
    /// shape, which must be float32); or a graph was exported with another manifest. With state kept in device memory
    /// (<see cref="RwkvModelOptions.StateLocation"/>), also: the state-copy graph's inputs and outputs are not the state
    /// tensors in manifest order.
    /// </exception>
    /// <exception cref="ExecutionProviderUnavailableException">
    /// The requested provider is not in the native ONNX Runtime this process loaded, or failed to start.
    /// </exception>
    public static RwkvModel Load(string directory, RwkvModelOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        options ??= new RwkvModelOptions();
        if (!Directory.Exists(directory))
        {
            throw new ModelContractException(directory, "directory", $"Model directory '{directory}' does not exist.");
        }
        RwkvManifest manifest = RwkvManifest.Load(directory);
        bool stateOnDevice = ResolveStateLocation(options) == RwkvStateLocation.Device;
        foreach (string file in new[] { manifest.StepGraph.File, manifest.PrefillGraph.File, manifest.StateCopyGraph.File, manifest.Weights.File })
        {
            string path = Path.Combine(directory, file);
            if (!File.Exists(path))
            {
                throw new ModelContractException(path, file,
                    $"Model directory '{directory}' has no '{file}', which its manifest names.");
            }
        }
        VerifyFile(directory, manifest.Weights, options.VerifyChecksums);

        SessionOptions? sessionOptions = null;
        SharedWeights? sharedWeights = null;
        PrePackedWeightsContainer? prepackedWeights = null;
        InferenceSession? stepSession = null;
        InferenceSession? prefillSession = null;
        InferenceSession? copySession = null;
        DeviceState? deviceState = null;
        try
        {
            sessionOptions = CreateSessionOptions(options, manifest);
            // On the CPU both sessions take the weights from one mapping, added to the session options, and pack each
            // matrix once into the shared container, which ONNX Runtime only does for such initializers. GPU providers
            // do not pack.
            if (options.ExecutionProvider == RwkvExecutionProvider.Cpu)
            {
                sharedWeights = SharedWeights.Create(directory, manifest, manifest.Weights.Tensors!, sessionOptions); // validated
            }
            prepackedWeights = new PrePackedWeightsContainer();
            bool releasePages = !ComputesFromStoredWeights(manifest);
            using (releasePages ? sharedWeights?.ReleasePagesPeriodically(TimeSpan.FromMilliseconds(5)) : null)
            {
                (stepSession, prefillSession) = CreateSessions(directory, manifest, sessionOptions, prepackedWeights);
            }
            ValidateEmbeddedManifest(directory, manifest, manifest.StepGraph, stepSession);
            ValidateEmbeddedManifest(directory, manifest, manifest.PrefillGraph, prefillSession);
            GraphIoValidator.Validate(directory, manifest, manifest.StepGraph, stepSession, prefill: false);
            GraphIoValidator.Validate(directory, manifest, manifest.PrefillGraph, prefillSession, prefill: true);
            if (releasePages)
            {
                sharedWeights?.ReleaseResidentPages();
            }
            if (stateOnDevice)
            {
                copySession = CreateSession(directory, manifest.StateCopyGraph.File, sessionOptions, prepackedWeights);
                ValidateEmbeddedManifest(directory, manifest, manifest.StateCopyGraph, copySession);
                GraphIoValidator.ValidateStateCopy(directory, manifest, manifest.StateCopyGraph, copySession);
                InferenceSession copier = copySession;
                copySession = null; // DeviceState.Create owns it from here, even when it throws
                deviceState = DeviceState.Create(options, manifest.State, copier, stepSession);
            }
            return new RwkvModel(directory, manifest, options, sessionOptions, sharedWeights, prepackedWeights, stepSession, prefillSession, deviceState);
        }
        catch
        {
            copySession?.Dispose();
            deviceState?.ReleaseModelLease();
            prefillSession?.Dispose();
            stepSession?.Dispose();
            prepackedWeights?.Dispose();
            sessionOptions?.Dispose();
            sharedWeights?.Dispose();
            throw;
        }
    }

    /// <summary>Creates a state for <paramref name="batchSize"/> sequences, set to the manifest's initial values.</summary>
    /// <param name="batchSize">The number of sequences the state holds.</param>
    /// <returns>The state; the caller disposes it.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batchSize"/> is less than 1.</exception>
    /// <exception cref="MemoryLimitExceededException">The state (<see cref="RwkvMemoryEstimate.StateBytes"/>) would not fit in the available memory.</exception>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public RwkvState CreateState(int batchSize = 1)
    {
        ThrowIfDisposed();
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        return new RwkvState(this, batchSize);
    }

    /// <summary>Creates a runner, which feeds tokens through this model. One runner per conversation or thread.</summary>
    /// <returns>The runner; the caller disposes it.</returns>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public RwkvRunner CreateRunner()
    {
        ThrowIfDisposed();
        return new RwkvRunner(this);
    }

    /// <summary>
    /// Releases both sessions. States and runners created from this model can no longer run. Safe to call more
    /// than once and from any thread; a call that races with runs on other threads waits for them to finish.
    /// </summary>
    public void Dispose()
    {
        if (!_gate.Close())
        {
            return;
        }
        _deviceState?.ReleaseModelLease(); // the allocator lives on while states or runners hold device tensors
        _prefillSession.Dispose();
        _stepSession.Dispose();
        _prepackedWeights.Dispose();
        _sessionOptions.Dispose();
        _sharedWeights?.Dispose();
    }

    internal void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_gate.IsClosed, this);

    /// <summary>Marks a run in progress, so <see cref="Dispose"/> waits for it; pair with <see cref="ExitRun"/>.</summary>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    internal void EnterRun() => _gate.Enter();

    /// <summary>Ends a run started with <see cref="EnterRun"/>.</summary>
    internal void ExitRun() => _gate.Exit();

    /// <summary>Allocates the two device tensor sets of a state of <paramref name="shapes"/>; they hold a lease on the allocator.</summary>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    internal DeviceStateBuffers AllocateDeviceState(long[][] shapes) => _deviceState!.Allocate(shapes);

    /// <summary>Keeps the device allocator alive for a holder of device tensor references (an <see cref="OrtIoBinding"/>).</summary>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    internal void AddDeviceLease() => _deviceState!.AddLease();

    /// <summary>Returns a lease taken with <see cref="AddDeviceLease"/>.</summary>
    internal void RemoveDeviceLease() => _deviceState!.RemoveLease();

    /// <summary>Copies state tensors between host and device memory on the model's provider.</summary>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    internal void CopyState(OrtValue[] source, OrtValue[] destination)
    {
        EnterRun();
        try
        {
            _deviceState!.Copier.Copy(source, destination);
        }
        finally
        {
            ExitRun();
        }
    }

    private static RwkvStateLocation ResolveStateLocation(RwkvModelOptions options) => options.StateLocation switch
    {
        RwkvStateLocation.Auto => options.ExecutionProvider == RwkvExecutionProvider.Cuda ? RwkvStateLocation.Device : RwkvStateLocation.Host,
        RwkvStateLocation location => location,
    };

    // Size always (one stat call); SHA-256 on request, since it reads the whole file.
    private static void VerifyFile(string directory, RwkvFileInfo file, bool verifyChecksum)
    {
        string path = Path.Combine(directory, file.File);
        long bytes = new FileInfo(path).Length;
        if (bytes != file.Bytes)
        {
            throw new ModelContractException(path, file.File,
                $"File '{file.File}' in model directory '{directory}' has {bytes.ToString(CultureInfo.InvariantCulture)} bytes; " +
                $"the manifest expects {file.Bytes.ToString(CultureInfo.InvariantCulture)}. The file is truncated or from another export.");
        }
        if (!verifyChecksum)
        {
            return;
        }
        string actual;
        using (FileStream stream = new(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 20))
        {
            actual = Convert.ToHexStringLower(SHA256.HashData(stream));
        }
        if (!string.Equals(actual, file.Sha256, StringComparison.OrdinalIgnoreCase))
        {
            throw new ModelContractException(path, file.File,
                $"File '{file.File}' in model directory '{directory}' has SHA-256 {actual}; the manifest expects {file.Sha256}. The file is corrupted or from another export.");
        }
    }

    // The exporter writes the manifest into each graph's metadata; a graph from another export names other
    // weights or another architecture. Graphs without the metadata (written by other tools) are not checked. ONNX
    // Runtime reads the metadata with the model, so the check needs no parser of our own, but only runs once the
    // session exists.
    private static void ValidateEmbeddedManifest(string directory, RwkvManifest manifest, RwkvGraphInfo graph, InferenceSession session)
    {
        string path = Path.Combine(directory, graph.File);
        if (!session.ModelMetadata.CustomMetadataMap.TryGetValue(RwkvContract.ManifestMetadataKey, out string? json))
        {
            return;
        }
        RwkvManifest embedded = RwkvManifest.FromJson(json, $"{path} (metadata '{RwkvContract.ManifestMetadataKey}')");
        string expected = Describe(manifest), actual = Describe(embedded);
        if (expected != actual)
        {
            throw new ModelContractException(path, RwkvContract.ManifestMetadataKey,
                $"Graph '{path}' was exported for {actual}, but the directory's manifest describes {expected}. " +
                "The graph is from another export; re-export the model directory.");
        }
    }

    private static string Describe(RwkvManifest manifest)
    {
        RwkvArchitectureInfo a = manifest.Architecture;
        return string.Create(CultureInfo.InvariantCulture,
            $"RWKV-{a.Version} ({a.Layers} layers, width {a.Embedding}, vocab {a.Vocab}, {manifest.WeightDType}) with " +
            $"'{manifest.Weights.File}' of {manifest.Weights.Bytes} bytes and SHA-256 {manifest.Weights.Sha256}");
    }

    // Without pre-packing the sessions multiply by the mapped weights themselves, so the mapping stays resident.
    private static bool ComputesFromStoredWeights(RwkvManifest manifest) =>
        manifest.SessionConfig.TryGetValue(RwkvContract.DisablePrepackingConfigKey, out string? value) && value == "1";

    private static SessionOptions CreateSessionOptions(RwkvModelOptions options, RwkvManifest manifest)
    {
        string? providerName = options.ExecutionProvider switch
        {
            RwkvExecutionProvider.Cuda => CudaProviderName,
            RwkvExecutionProvider.DirectML => DirectMLProviderName,
            _ => null,
        };
        string[] available = OrtEnv.Instance().GetAvailableProviders();
        if (providerName is not null && !available.Contains(providerName))
        {
            throw new ExecutionProviderUnavailableException(options.ExecutionProvider, available,
                $"The installed native ONNX Runtime has no {providerName}. {PackageHint(options.ExecutionProvider)} " +
                $"Available providers: {string.Join(", ", available)}.");
        }

        var sessionOptions = new SessionOptions();
        try
        {
            sessionOptions.GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL;
            sessionOptions.IntraOpNumThreads = options.IntraOpThreads;
            // The manifest's entries are what any client of the directory applies (CONTRACT.md, "Driving prefill then step").
            bool cpu = options.ExecutionProvider == RwkvExecutionProvider.Cpu;
            foreach ((string key, string value) in manifest.SessionConfig)
            {
                if (!(cpu && key == DisabledOptimizersKey)) // joined with the CPU's own entry below
                {
                    sessionOptions.AddSessionConfigEntry(key, value);
                }
            }
            switch (options.ExecutionProvider)
            {
                case RwkvExecutionProvider.Cuda:
                    sessionOptions.AppendExecutionProvider_CUDA(options.DeviceId);
                    break;
                case RwkvExecutionProvider.Cpu:
                    // MatMul+Add becomes a Gemm only in the step graph (2-D inputs), and a Gemm packs its weight under
                    // another key than the prefill graph's MatMul, so the weights before an add (att.output, ffn.value,
                    // LoRA second stages) would be packed twice: 0.15 GB more for the 0.1B fp32 model, no faster.
                    sessionOptions.AddSessionConfigEntry(DisabledOptimizersKey, WithDisabledOptimizer(manifest, "MatMulAddFusion"));
                    break;
                case RwkvExecutionProvider.DirectML:
                    // DirectML supports neither memory patterns nor parallel execution.
                    sessionOptions.EnableMemoryPattern = false;
                    sessionOptions.ExecutionMode = ExecutionMode.ORT_SEQUENTIAL;
                    sessionOptions.AppendExecutionProvider_DML(options.DeviceId);
                    break;
            }
            return sessionOptions;
        }
        catch (OnnxRuntimeException e) when (providerName is not null)
        {
            sessionOptions.Dispose();
            throw new ExecutionProviderUnavailableException(options.ExecutionProvider, available,
                $"ONNX Runtime could not start {providerName} on device {options.DeviceId}: {e.Message}", e);
        }
        catch
        {
            sessionOptions.Dispose();
            throw;
        }
    }

    // ONNX Runtime reads the disabled optimizers as one ';'-separated list, and a second entry under the key replaces the
    // first, so the runtime's own name joins the manifest's list instead of overwriting it.
    private static string WithDisabledOptimizer(RwkvManifest manifest, string optimizer) =>
        manifest.SessionConfig.TryGetValue(DisabledOptimizersKey, out string? listed) && listed.Length > 0 ? $"{listed};{optimizer}" : optimizer;

    private static string PackageHint(RwkvExecutionProvider provider) => provider switch
    {
        RwkvExecutionProvider.Cuda =>
            "It comes with the NuGet package Microsoft.ML.OnnxRuntime.Gpu, which this library uses when built with -p:OnnxRuntimeFlavor=Gpu.",
        _ =>
            "It comes with the NuGet package Microsoft.ML.OnnxRuntime.DirectML, which this library uses when built with -p:OnnxRuntimeFlavor=DirectML.",
    };

    // The two sessions are created at once, so ONNX Runtime's planning of the larger prefill graph overlaps the other
    // session's work (BENCHMARKS.md, load time). ONNX Runtime holds the shared pre-packed weights container's lock
    // while a session packs, so each weight is packed once, by whichever session comes first, to the same bytes. If
    // the step session fails, its error is the one reported and the prefill session is released once created.
    private static (InferenceSession Step, InferenceSession Prefill) CreateSessions(string directory, RwkvManifest manifest,
        SessionOptions sessionOptions, PrePackedWeightsContainer prepackedWeights)
    {
        Task<InferenceSession> prefill = Task.Factory.StartNew(
            () => CreateSession(directory, manifest.PrefillGraph.File, sessionOptions, prepackedWeights),
            CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        InferenceSession step;
        try
        {
            step = CreateSession(directory, manifest.StepGraph.File, sessionOptions, prepackedWeights);
        }
        catch
        {
            Task.WaitAny(prefill); // never throws: the prefill task's own failure is not the one to report
            if (prefill.IsCompletedSuccessfully)
            {
                prefill.Result.Dispose();
            }
            throw;
        }
        try
        {
            return (step, prefill.GetAwaiter().GetResult()); // rethrows the task's exception itself, not an AggregateException
        }
        catch
        {
            step.Dispose();
            throw;
        }
    }

    private static InferenceSession CreateSession(string directory, string file, SessionOptions sessionOptions,
        PrePackedWeightsContainer prepackedWeights)
    {
        string path = Path.Combine(directory, file);
        try
        {
            return new InferenceSession(path, sessionOptions, prepackedWeights);
        }
        catch (OnnxRuntimeException e)
        {
            throw new ModelContractException(path, file, $"ONNX Runtime could not load graph '{path}': {e.Message}", e);
        }
    }
}
