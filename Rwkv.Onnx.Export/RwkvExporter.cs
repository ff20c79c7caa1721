using System.Globalization;
using System.Security.Cryptography;
using Rwkv.Onnx.Export.Architectures;
using Rwkv.Onnx.Export.Checkpoints;
using Rwkv.Onnx.Export.Genai;
using Rwkv.Onnx.Export.Graph;
using Rwkv.Onnx.Export.Output;
using Rwkv.Onnx.Generation;
using Rwkv.Onnx.Sampling;
using Rwkv.Onnx.Tokenization;

namespace Rwkv.Onnx.Export;

/// <summary>Exports an RWKV checkpoint to an ONNX model directory (step graph, prefill graph, state-copy graph, shared weights, manifest).</summary>
public static class RwkvExporter
{
    /// <summary>
    /// Exports <paramref name="checkpointPath"/> to <paramref name="outputDirectory"/>. The directory is
    /// written under a temporary sibling name and renamed only when complete, so a failed or cancelled
    /// export never leaves a directory that looks like a model.
    /// </summary>
    /// <remarks>
    /// <para>
    /// Before anything is written the output is checked, and refused with <see cref="ExportOutputException"/> when it is
    /// (after resolving relative paths and symbolic links) a file-system root, the current or the home directory or a
    /// directory holding one of them; the checkpoint, one of its files or the tokenizer file, or a directory holding one;
    /// inside the checkpoint directory; or when it exists and <see cref="ExportOptions.Overwrite"/> is false. Overwrite
    /// replaces only an earlier export: a directory holding <see cref="RwkvContract.ManifestFile"/> and nothing but the
    /// files its manifest names. Anything else in the way (a file, a link, any other directory) is refused and left as it is.
    /// </para>
    /// <para>
    /// The temporary sibling is <c>.{name}.partial-{pid}-{guid}</c>; the manifest is its last file, so even a
    /// killed process leaves a directory that <see cref="RwkvModel.Load"/> refuses (no manifest). A failed or
    /// cancelled export deletes it, and the parent directories it created; a killed one leaves it, and
    /// <see cref="CleanUpLeftovers"/> (which every export runs first) deletes it once process <c>{pid}</c> no longer
    /// runs. A sibling of a running process means another export to the same output is in progress: the export then
    /// fails with <see cref="ExportOutputConflict.ExportInProgress"/> rather than racing it.
    /// </para>
    /// <para>
    /// With <see cref="ExportOptions.Overwrite"/>, the earlier export is first renamed to
    /// <c>.{name}.replaced-{pid}-{guid}</c>, the new directory is renamed into place, and only then is the old one
    /// deleted; if the second rename fails the old directory is renamed back. The output path therefore holds the
    /// complete old model or the complete new one, never a mix. A process killed between the two renames leaves no
    /// output and the old model under the <c>.replaced-</c> name, which the next export in the same directory renames back.
    /// </para>
    /// </remarks>
    /// <param name="checkpointPath">
    /// A checkpoint <see cref="RwkvCheckpoint.Open"/> reads: an rwkv.cpp <c>.bin</c> (FP32, FP16 or quantized), a <c>.pth</c>,
    /// a <c>.safetensors</c> file, a shard index, or a Hugging Face model directory (transformers' RWKV-4, fla's RWKV-7).
    /// </param>
    /// <param name="outputDirectory">The model directory to create.</param>
    /// <param name="options">Export options.</param>
    /// <param name="progress">Receives per-tensor and per-graph progress, if given.</param>
    /// <param name="cancellationToken">Cancels the export; nothing is left behind.</param>
    /// <returns>The manifest written to the directory.</returns>
    /// <exception cref="FileNotFoundException">The checkpoint does not exist.</exception>
    /// <exception cref="CheckpointFormatException">The checkpoint is unreadable or not a supported RWKV model.</exception>
    /// <exception cref="ExportOutputException">The output was refused (see remarks); nothing was touched.</exception>
    /// <exception cref="InvalidDataException"><see cref="ExportOptions.TokenizerPath"/> is not a tokenizer file.</exception>
    /// <exception cref="ArgumentException">
    /// The tokenizer (<see cref="ExportOptions.TokenizerPath"/> or <see cref="ExportOptions.BuiltInTokenizer"/>) does not fit the
    /// checkpoint's vocabulary (more tokens, or far fewer), or both options are set; or
    /// <see cref="ExportOptions.EmulatedFormat"/> is set for weights that are not float32.
    /// </exception>
    public static RwkvManifest Export(string checkpointPath, string outputDirectory, ExportOptions options,
        IProgress<ExportProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(checkpointPath);
        ArgumentException.ThrowIfNullOrWhiteSpace(outputDirectory);
        ArgumentNullException.ThrowIfNull(options);
        if (options.EmulatedFormat is { } emulated && (options.WeightDType != WeightDType.Float32 || options.ResolvedHeadDType != WeightDType.Float32))
        {
            throw new ArgumentException($"{emulated} emulation stores float32 weights; it needs WeightDType and HeadWeightDType Float32, not {options.WeightDType} and {options.ResolvedHeadDType}.", nameof(options));
        }
        var destination = new ExportDestination(outputDirectory);
        destination.CheckNotProtected();

        using RwkvCheckpoint checkpoint = RwkvCheckpoint.Open(checkpointPath);
        destination.CheckNotInput([checkpoint.Path, .. checkpoint.Files,
            .. options.TokenizerPath is { } t ? [t] : Array.Empty<string>(), .. options.TimeStatePath is { } s ? [s] : Array.Empty<string>()]);
        destination.CheckExisting(options.Overwrite);
        RwkvArchitecture architecture = RwkvArchitectures.Detect(checkpoint, options);
        CheckArchitectureOptions(options, architecture, checkpoint.Path);
        (RwkvTokenizerInfo tokenizer, Func<Stream>? openTokenizer, int? endOfText) = CheckTokenizer(options, architecture.Info.Vocab);
        float[][]? timeState = CheckTimeState(options, architecture);

        destination.CleanUpLeftovers();
        string temporary = destination.CreateTemporary();
        try
        {
            if (openTokenizer is not null && options.Target == ExportTarget.Rwkv)
            {
                CopyTokenizer(openTokenizer, Path.Combine(temporary, tokenizer.File!)); // CheckTokenizer sets File with openTokenizer
            }
            RwkvManifest manifest = options.Target == ExportTarget.Genai
                ? WriteGenaiModel(checkpoint, architecture, temporary, options, tokenizer, openTokenizer, timeState, progress, cancellationToken)
                : WriteModel(checkpoint, architecture, temporary, options, tokenizer, Generation(tokenizer, endOfText), progress, cancellationToken);
            cancellationToken.ThrowIfCancellationRequested();
            destination.Commit(temporary, options.Overwrite);
            return manifest;
        }
        catch
        {
            destination.Abandon(temporary);
            throw;
        }
    }

    /// <summary>
    /// Removes what killed exports left in the directory that holds <paramref name="outputDirectory"/> (for any output
    /// name there): <c>.{name}.partial-{pid}-{guid}</c> directories are deleted, and an earlier export that a killed
    /// overwrite had renamed to <c>.{name}.replaced-{pid}-{guid}</c> is renamed back to its name when that is free (else
    /// deleted: the new export took its place). Only leftovers whose process no longer runs and that hold nothing but
    /// files an export writes are touched. <see cref="Export"/> runs this itself; call it first to learn what it removed.
    /// </summary>
    /// <param name="outputDirectory">An output directory; its parent is cleaned.</param>
    /// <returns>What was removed or restored, in no particular order.</returns>
    public static IReadOnlyList<ExportLeftover> CleanUpLeftovers(string outputDirectory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(outputDirectory);
        return new ExportDestination(outputDirectory).CleanUpLeftovers();
    }

    // The weights file both targets share, written and closed (its offsets stay available for the graphs), with the
    // residual rescaling and WKV chunk length the graphs must use; `extra` appends a target's own tensors.
    private static (ExternalWeights Weights, string Path, int RescaleEvery, int ChunkLength) WriteWeights(RwkvCheckpoint checkpoint,
        RwkvArchitecture architecture, string directory, ExportOptions options, IProgress<ExportProgress>? progress, CancellationToken cancellationToken,
        Action<ExternalWeights>? extra = null)
    {
        int rescaleEvery = options.ResidualRescaleEvery ?? (architecture.Info.Version == "4" && options.WeightDType == WeightDType.Float16 ? 6 : 0);
        int chunkLength = options.PrefillRecurrence == PrefillRecurrence.Chunked ? options.WkvChunkLength ?? architecture.DefaultWkvChunkLength : 0;
        string weightsPath = Path.Combine(directory, RwkvContract.WeightsFile);
        using var weights = new ExternalWeights(weightsPath);
        architecture.PrepareWeights(checkpoint, new WeightSink(weights, options, rescaleEvery, architecture.Info.Layers, architecture.PreparedTensorCount, progress, cancellationToken));
        extra?.Invoke(weights);
        return (weights, weightsPath, rescaleEvery, chunkLength);
    }

    private static RwkvManifest WriteModel(RwkvCheckpoint checkpoint, RwkvArchitecture architecture, string directory,
        ExportOptions options, RwkvTokenizerInfo tokenizer, RwkvGenerationInfo generation, IProgress<ExportProgress>? progress, CancellationToken cancellationToken)
    {
        (ExternalWeights weights, string weightsPath, int rescaleEvery, int chunkLength) = WriteWeights(checkpoint, architecture, directory, options, progress, cancellationToken);
        WeightDType headDType = options.ResolvedHeadDType;
        QuantLayout? layout = options.ResolveQuantLayout();

        RwkvArchitectureInfo info = architecture.Info;
        (List<string> stepIn, List<string> stepOut) = architecture.GraphIo(GraphKind.Step);
        (List<string> prefillIn, List<string> prefillOut) = architecture.GraphIo(GraphKind.Prefill);
        List<RwkvStateTensorInfo> state = StateTensors(architecture);
        // The graphs are built before the manifest, which records what they need from ONNX Runtime, and written after
        // it, since each carries the manifest in its metadata.
        var graphs = new List<(string Kind, string File, OnnxGraph Graph, string? Stage)>();
        foreach ((GraphKind kind, string file) in new[] { (GraphKind.Step, RwkvContract.StepGraphFile), (GraphKind.Prefill, RwkvContract.PrefillGraphFile) })
        {
            cancellationToken.ThrowIfCancellationRequested();
            string stage = kind == GraphKind.Step ? "step graph" : "prefill graph";
            progress?.Report(new ExportProgress(stage, 0, 1));
            graphs.Add((kind == GraphKind.Step ? "step" : "prefill", file, architecture.BuildGraph(kind, weights, options.Opset, rescaleEvery, chunkLength), stage));
        }
        graphs.Add(("state_copy", RwkvContract.StateCopyGraphFile, StateCopyGraph.Build(state, options.Opset), null));
        RwkvGraphInfo Describe(string file, List<string> inputs, List<string> outputs)
        {
            (List<RwkvOpsetImportInfo> imports, List<RwkvCustomOpInfo> customOps) = OnnxRuntimeRequirements.Describe(graphs.Single(g => g.File == file).Graph);
            return new RwkvGraphInfo { File = file, Inputs = inputs, Outputs = outputs, OpsetImports = imports, CustomOps = customOps };
        }
        RwkvContextLimitInfo? contextLimit = ContextLimit(architecture);
        var manifest = new RwkvManifest
        {
            FormatVersion = contextLimit is null ? RwkvContract.FormatVersion : RwkvContract.ContextLimitFormatVersion,
            Architecture = info,
            WeightDType = Name(options.WeightDType),
            HeadDType = Name(headDType),
            BlockSize = layout?.BlockSize,
            QuantizedCompute = layout is null ? null : Name(layout.Compute),
            QuantLayout = layout?.ToString(),
            BlockRounding = layout is null ? null : QuantLayout.RoundingName(layout.Rounding),
            Int8Roles = layout is { Bits: WeightDType.Int4 } ? [.. QuantLayout.RoleNames(layout.Int8Roles)] : null,
            ResidualRescaleEvery = rescaleEvery > 0 ? rescaleEvery : null,
            SessionConfig = SessionConfig(),
            Opset = options.Opset,
            IrVersion = OnnxModelWriter.IrVersionFor(options.Opset),
            StepGraph = Describe(RwkvContract.StepGraphFile, stepIn, stepOut),
            PrefillGraph = Describe(RwkvContract.PrefillGraphFile, prefillIn, prefillOut),
            StateCopyGraph = Describe(RwkvContract.StateCopyGraphFile, [.. state.Select(t => t.Input)], [.. state.Select(t => t.Output)]),
            PrefillRecurrence = chunkLength > 0 ? $"chunked-{chunkLength}" : "scan",
            Weights = new RwkvFileInfo
            {
                File = RwkvContract.WeightsFile,
                Bytes = new FileInfo(weightsPath).Length,
                Sha256 = Sha256([weightsPath]),
                Tensors = [.. weights.All.OrderBy(w => w.Offset).Select(w => new RwkvTensorInfo
                {
                    Name = w.Name, DType = Name(w.Type), Shape = w.Shape, Offset = w.Offset, Length = w.Length,
                })],
            },
            State = state,
            Activations = ActivationSizes.For(architecture, chunkLength),
            ContextLimit = contextLimit,
            Tokenizer = tokenizer,
            Source = new RwkvSourceInfo { File = Path.GetFileName(Path.TrimEndingDirectorySeparator(checkpoint.Path)), Format = checkpoint.Format, Sha256 = Sha256(checkpoint.Files) },
            MinOnnxRuntimeVersion = OnnxRuntimeRequirements.MinimumRelease(graphs.Select(g => g.Graph)),
            Generation = generation,
        };
        string json = manifest.ToJson();

        foreach ((string kind, string file, OnnxGraph graph, string? stage) in graphs)
        {
            cancellationToken.ThrowIfCancellationRequested();
            OnnxModelWriter.Write(graph, Path.Combine(directory, file), new Dictionary<string, string>
            {
                [RwkvContract.ManifestMetadataKey] = json,
                [RwkvContract.GraphKindMetadataKey] = kind,
            });
            if (stage is not null)
            {
                progress?.Report(new ExportProgress(stage, 1, 1));
            }
        }
        File.WriteAllText(Path.Combine(directory, RwkvContract.ManifestFile), json);
        return manifest;
    }

    // The onnxruntime-genai directory (ExportTarget.Genai): the same weights and architecture, graphs with genai's I/O
    // (GenaiStatePacking), genai's tokenizer files where it has a tokenizer for the kind, and genai_config.json last,
    // so that a killed export leaves no directory genai would open. The manifest is returned, not written. A time state
    // (one tuned matrix per layer) is stored in float32 whatever the dtype, so the first token starts from it exactly.
    private static RwkvManifest WriteGenaiModel(RwkvCheckpoint checkpoint, RwkvArchitecture architecture, string directory,
        ExportOptions options, RwkvTokenizerInfo tokenizer, Func<Stream>? openTokenizer, float[][]? timeState,
        IProgress<ExportProgress>? progress, CancellationToken cancellationToken)
    {
        (ExternalWeights weights, string weightsPath, int rescaleEvery, int chunkLength) = WriteWeights(checkpoint, architecture, directory, options, progress, cancellationToken,
            extra: w =>
            {
                for (int layer = 0; layer < (timeState?.Length ?? 0); layer++)
                {
                    w.Add(GenaiTimeState.WeightName(layer), timeState![layer],
                        [.. architecture.StateSlots.Single(s => s.TimeState is not null).Shape.Select(d => (long)d)], ElementType.Float);
                }
            });
        WeightDType headDType = options.ResolvedHeadDType;
        QuantLayout? layout = options.ResolveQuantLayout();

        var packing = new GenaiStatePacking(architecture.StateSlots, architecture.Info.Embedding, timeState is not null);
        IEnumerable<int> layers = Enumerable.Range(0, architecture.Info.Layers);
        string[] tensors = [GenaiStatePacking.ConvState, GenaiStatePacking.RecurrentState];
        var step = new RwkvGraphInfo
        {
            File = RwkvContract.StepGraphFile,
            Inputs = [RwkvContract.TokensInput, .. layers.SelectMany(layer => tensors.Select(t => GenaiStatePacking.PastName(t, layer)))],
            Outputs = [RwkvContract.LogitsOutput, .. layers.SelectMany(layer => tensors.Select(t => GenaiStatePacking.PresentName(t, layer)))],
        };
        RwkvGraphInfo prefill = step with { File = RwkvContract.PrefillGraphFile };
        foreach ((GraphKind kind, string file) in new[] { (GraphKind.Step, RwkvContract.StepGraphFile), (GraphKind.Prefill, RwkvContract.PrefillGraphFile) })
        {
            cancellationToken.ThrowIfCancellationRequested();
            string stage = kind == GraphKind.Step ? "step graph" : "prefill graph";
            progress?.Report(new ExportProgress(stage, 0, 1));
            OnnxGraph graph = architecture.BuildGraph(kind, weights, options.Opset, rescaleEvery, chunkLength, packing);
            OnnxModelWriter.Write(graph, Path.Combine(directory, file), new Dictionary<string, string>
            {
                [RwkvContract.GraphKindMetadataKey] = kind == GraphKind.Step ? "step" : "prefill",
            });
            progress?.Report(new ExportProgress(stage, 1, 1));
        }

        ByteLevelTokenizer? text = tokenizer.Kind == RwkvTokenizers.UnknownKind ? null
            : options.TokenizerPath is { } path ? RwkvTokenizers.LoadFile(path) : RwkvTokenizers.CreateBuiltIn(tokenizer.Kind);
        bool genaiTokenizer = GenaiTokenizerFiles.Supports(tokenizer.Kind);
        if (genaiTokenizer)
        {
            GenaiTokenizerFiles.Write(directory, tokenizer.Kind, text?.EndOfTextId, openTokenizer);
        }
        cancellationToken.ThrowIfCancellationRequested();
        GenaiConfig.Write(directory, architecture.Info, text?.EndOfTextId, prefill, step);
        (int[] conv, int[] recurrent) = packing.Shapes;
        return new RwkvManifest
        {
            FormatVersion = RwkvContract.FormatVersion,
            Architecture = architecture.Info,
            WeightDType = Name(options.WeightDType),
            HeadDType = Name(headDType),
            BlockSize = layout?.BlockSize,
            QuantizedCompute = layout is null ? null : Name(layout.Compute),
            QuantLayout = layout?.ToString(),
            BlockRounding = layout is null ? null : QuantLayout.RoundingName(layout.Rounding),
            Int8Roles = layout is { Bits: WeightDType.Int4 } ? [.. QuantLayout.RoleNames(layout.Int8Roles)] : null,
            ResidualRescaleEvery = rescaleEvery > 0 ? rescaleEvery : null,
            SessionConfig = SessionConfig(),
            Opset = options.Opset,
            IrVersion = OnnxModelWriter.IrVersionFor(options.Opset),
            StepGraph = step,
            PrefillGraph = prefill,
            StateCopyGraph = new RwkvGraphInfo { File = "", Inputs = [], Outputs = [] }, // genai copies state itself
            PrefillRecurrence = chunkLength > 0 ? $"chunked-{chunkLength}" : "scan",
            Weights = new RwkvFileInfo { File = RwkvContract.WeightsFile, Bytes = new FileInfo(weightsPath).Length, Sha256 = Sha256([weightsPath]), Tensors = [] },
            State = [.. layers.SelectMany(layer => new[] { GenaiStateTensor(tensors[0], layer, conv), GenaiStateTensor(tensors[1], layer, recurrent) })],
            Activations = ActivationSizes.For(architecture, chunkLength),
            Tokenizer = genaiTokenizer ? new RwkvTokenizerInfo { Kind = tokenizer.Kind, File = GenaiTokenizerFiles.TokenizerFile } : new RwkvTokenizerInfo { Kind = tokenizer.Kind },
            Source = new RwkvSourceInfo { File = Path.GetFileName(Path.TrimEndingDirectorySeparator(checkpoint.Path)), Format = checkpoint.Format, Sha256 = Sha256(checkpoint.Files) },
        };
    }

    // The manifest's context_limit of a state with a token capacity: the bytes per token are the rows of every slot
    // with a token axis, in all layers.
    private static RwkvContextLimitInfo? ContextLimit(RwkvArchitecture architecture)
    {
        if (architecture.TokenCapacity is not { } capacity)
        {
            return null;
        }
        long perLayer = architecture.StateSlots
            .Where(slot => slot.Layout.Contains(RwkvV7.TokenAxis))
            .Sum(slot => slot.Shape.Aggregate(1L, (product, d) => product * d) / capacity.MaxTokens * sizeof(float));
        return new RwkvContextLimitInfo { MaxTokens = capacity.MaxTokens, LengthSlot = capacity.LengthSlot, StateBytesPerToken = perLayer * architecture.Info.Layers };
    }

    // Options that the architecture cannot honour, refused before anything is written: a context limit for a
    // fixed-size state; for a state with a token capacity, the genai target (whose state is two fixed-size tensors per
    // layer) and residual rescaling (DEA reads the unnormalised residual stream through a tanh, which the rescaled
    // weights do not compensate).
    private static void CheckArchitectureOptions(ExportOptions options, RwkvArchitecture architecture, string checkpointPath)
    {
        string description = $"RWKV-{architecture.Info.Version}{(architecture.Info.Variant is { } variant ? $" ({variant})" : "")}";
        if (architecture.TokenCapacity is null)
        {
            if (options.ContextLimit is { } limit)
            {
                throw new ArgumentException($"A context limit ({limit} tokens) applies only to a state that keeps every token (RWKV-7b); " +
                    $"'{checkpointPath}' is {description}, whose state is fixed-size.", nameof(options));
            }
            return;
        }
        if (options.Target == ExportTarget.Genai)
        {
            throw new ArgumentException($"'{checkpointPath}' is {description}, whose attention cache keeps a row per token in the state; " +
                "onnxruntime-genai's RWKV state is two fixed-size tensors per layer, so this model cannot be exported for it. Export it for our runtime (--target rwkv).", nameof(options));
        }
        if (options.ResidualRescaleEvery is > 0)
        {
            throw new ArgumentException($"'{checkpointPath}' is {description}, whose attention reads the residual stream unnormalised; " +
                "residual rescaling would change its logits. Leave it off.", nameof(options));
        }
    }

    // The time state to bake into a genai export, read and checked before anything is written; null without one.
    private static float[][]? CheckTimeState(ExportOptions options, RwkvArchitecture architecture)
    {
        if (options.TimeStatePath is not { } path)
        {
            return null;
        }
        if (options.Target != ExportTarget.Genai)
        {
            throw new ArgumentException($"A time state ('{path}') is baked only into a genai export; our runtime loads it at run time (RwkvState.FromTimeState, --state).", nameof(options));
        }
        return GenaiTimeState.Read(path, architecture);
    }

    private static RwkvStateTensorInfo GenaiStateTensor(string tensor, int layer, int[] shape) => new()
    {
        Slot = tensor,
        Layer = layer,
        Input = GenaiStatePacking.PastName(tensor, layer),
        Output = GenaiStatePacking.PresentName(tensor, layer),
        Shape = shape,
        DType = "float32",
        Initial = 0f,
        Layout = [.. shape.Select(_ => "packed")],
    };

    // The manifest's tokenizer entry, how to open the file to copy into the model (null when none is needed) and the
    // tokenizer's end-of-text id: an explicit file or built-in kind is read now and checked against the vocabulary, so a
    // wrong one fails before the export. Without either, the vocabulary picks a built-in tokenizer, or none ("unknown",
    // which the CLI warns about).
    private static (RwkvTokenizerInfo Info, Func<Stream>? Open, int? EndOfTextId) CheckTokenizer(ExportOptions options, int vocab)
    {
        if (options.TokenizerPath is { } path)
        {
            if (options.BuiltInTokenizer is { } builtIn)
            {
                throw new ArgumentException($"Both a tokenizer file ('{path}') and the built-in tokenizer '{builtIn}' are given; choose one.", nameof(options));
            }
            ByteLevelTokenizer loaded = RwkvTokenizers.LoadFile(path);
            if (RwkvTokenizers.Mismatch(loaded, vocab) is { } mismatch)
            {
                throw new ArgumentException($"Tokenizer '{path}' {mismatch}.", nameof(options));
            }
            string file = Path.GetFileName(path);
            if (file is RwkvContract.ManifestFile or RwkvContract.StepGraphFile or RwkvContract.PrefillGraphFile or RwkvContract.StateCopyGraphFile or RwkvContract.WeightsFile)
            {
                throw new ArgumentException($"Tokenizer '{path}' has the name of a model file ('{file}'); rename it.", nameof(options));
            }
            return (new RwkvTokenizerInfo { Kind = RwkvTokenizers.DetectKind(path), File = file }, () => File.OpenRead(path), loaded.EndOfTextId);
        }
        if (options.BuiltInTokenizer is { } chosen && RwkvTokenizers.Mismatch(RwkvTokenizers.CreateBuiltIn(chosen), vocab) is { } wrong)
        {
            throw new ArgumentException($"The built-in tokenizer '{chosen}' {wrong}.", nameof(options));
        }
        if ((options.BuiltInTokenizer ?? RwkvTokenizers.DefaultKind(vocab)) is not { } kind)
        {
            return (new RwkvTokenizerInfo { Kind = RwkvTokenizers.UnknownKind }, null, null);
        }
        int? endOfText = RwkvTokenizers.CreateBuiltIn(kind).EndOfTextId;
        return RwkvTokenizers.BuiltInFile(kind) is { } builtInFile
            ? (new RwkvTokenizerInfo { Kind = kind, File = builtInFile }, () => RwkvTokenizers.OpenBuiltInFile(kind), endOfText)
            : (new RwkvTokenizerInfo { Kind = kind }, null, endOfText);
    }

    // What a client needs to generate: the end-of-text id as the one stop token (where our generator stops), the chat
    // template our chat picks for the tokenizer, and the CLI's sampling defaults, all from the one place that defines them.
    private static RwkvGenerationInfo Generation(RwkvTokenizerInfo tokenizer, int? endOfText) => new()
    {
        EndOfTextId = endOfText,
        StopTokenIds = endOfText is int id ? [id] : [],
        ChatTemplate = ChatTemplate.ForTokenizerKind(tokenizer.Kind).ToInfo(),
        Sampling = new RwkvSamplingPresets { Completion = RwkvSamplingInfo.From(SamplingSettings.Completion), Chat = RwkvSamplingInfo.From(SamplingSettings.Chat) },
    };

    private static void CopyTokenizer(Func<Stream> open, string target)
    {
        using Stream source = open();
        using FileStream copy = File.Create(target);
        source.CopyTo(copy);
    }

    /// <summary>Detects a checkpoint's version, sizes and state layout without exporting it.</summary>
    /// <param name="checkpointPath">A checkpoint file or Hugging Face model directory.</param>
    /// <param name="options">Options that affect detection (e.g. the group-norm epsilon); null for defaults.</param>
    /// <exception cref="FileNotFoundException">The checkpoint does not exist.</exception>
    /// <exception cref="CheckpointFormatException">The checkpoint is unreadable or not a supported RWKV model.</exception>
    public static RwkvCheckpointInfo Inspect(string checkpointPath, ExportOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(checkpointPath);
        using RwkvCheckpoint checkpoint = RwkvCheckpoint.Open(checkpointPath);
        RwkvArchitecture architecture = RwkvArchitectures.Detect(checkpoint, options ?? new ExportOptions());
        TensorDType dtype = checkpoint.Tensors.Values.GroupBy(t => t.DType).MaxBy(g => g.Sum(t => t.ElementCount))!.Key; // non-empty: detection found tensors
        return new RwkvCheckpointInfo
        {
            Path = checkpoint.Path,
            Format = checkpoint.Format,
            DType = TensorDecoding.ShortName(dtype),
            Architecture = architecture.Info,
            State = StateTensors(architecture),
        };
    }

    /// <summary>The manifest's name of a weight type: <c>fp32</c>, <c>fp16</c>, <c>int8</c> or <c>int4</c>.</summary>
    internal static string Name(WeightDType dtype) => dtype switch
    {
        WeightDType.Float16 => "fp16",
        WeightDType.Int8 => "int8",
        WeightDType.Int4 => "int4",
        _ => "fp32",
    };

    /// <summary>The manifest's name of an element type stored in the weights file (<see cref="RwkvTensorInfo.DType"/>).</summary>
    private static string Name(ElementType type) => type switch
    {
        ElementType.Float => "float32",
        ElementType.Float16 => "float16",
        ElementType.UInt8 => "uint8",
        ElementType.Int64 => "int64",
        _ => throw new InvalidOperationException($"Element type {type} has no manifest name."),
    };

    internal static string Name(QuantizedCompute compute) => compute == QuantizedCompute.Int8 ? "int8" : "fp32";

    private static bool IsQuantized(WeightDType dtype) => dtype is WeightDType.Int8 or WeightDType.Int4;

    // Empty: the graphs run with ONNX Runtime's defaults. Turning pre-packing off (session.disable_prepacking) would hold
    // float weights once, where they are mapped, and load 3-6x faster, but MLAS then multiplies one row with another
    // kernel than a packed GEMM, whose rounding differs: step and prefill logits drifted apart by 1.6e-4 (tolerance 1e-4)
    // and a batch of three from one sequence alone by 1.3e-5; MatMulNBits without its packed form dequantizes on every
    // call (0.4 tok/s instead of 24 at the 0.1B int4 shape). BENCHMARKS.md, issue 17.
    private static Dictionary<string, string> SessionConfig() => new(StringComparer.Ordinal);

    private static List<RwkvStateTensorInfo> StateTensors(RwkvArchitecture architecture) =>
        [.. Enumerable.Range(0, architecture.Info.Layers).SelectMany(layer => architecture.StateSlots.Select(slot => new RwkvStateTensorInfo
        {
            Slot = slot.Name,
            Layer = layer,
            Input = RwkvContract.PastStateName(slot.Name, layer),
            Output = RwkvContract.PresentStateName(slot.Name, layer),
            Shape = slot.Shape,
            DType = "float32",
            Initial = slot.Initial,
            Layout = slot.Layout,
            TimeState = slot.TimeState,
        }))];

    /// <summary>
    /// SHA-256 of <paramref name="files"/> concatenated in order (one file: the file's own hash), as the manifest records
    /// the weights and the source checkpoint's data files (<see cref="RwkvSourceInfo.Sha256"/>), so that a tool can check
    /// a checkpoint against the manifest of its export.
    /// </summary>
    /// <param name="files">The files, in the order the checkpoint lists them.</param>
    /// <returns>The lower-case hex digest.</returns>
    /// <exception cref="IOException">A file cannot be read.</exception>
    public static string Sha256(IReadOnlyList<string> files)
    {
        ArgumentNullException.ThrowIfNull(files);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        byte[] buffer = new byte[1 << 20];
        foreach (string file in files)
        {
            using FileStream stream = File.OpenRead(file);
            int read;
            while ((read = stream.Read(buffer)) > 0)
            {
                hash.AppendData(buffer, 0, read);
            }
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }
}
