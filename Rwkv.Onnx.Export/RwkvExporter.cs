using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Rwkv.Onnx.Export.Architectures;
using Rwkv.Onnx.Export.Checkpoints;
using Rwkv.Onnx.Export.Graph;
using Rwkv.Onnx.Tokenization;

namespace Rwkv.Onnx.Export;

/// <summary>Exports an RWKV checkpoint to an ONNX model directory (step graph, prefill graph, shared weights, manifest).</summary>
public static class RwkvExporter
{
    /// <summary>
    /// Exports <paramref name="checkpointPath"/> to <paramref name="outputDirectory"/>. The directory is
    /// written under a temporary sibling name and renamed only when complete, so a failed or cancelled
    /// export never leaves a directory that looks like a model.
    /// </summary>
    /// <remarks>
    /// <para>
    /// The temporary sibling is <c>.{name}.partial-{pid}-{guid}</c>; the manifest is its last file, so even a
    /// killed process leaves a directory that <see cref="RwkvModel.Load"/> refuses (no manifest). A failed or
    /// cancelled export deletes it; a killed one leaves it, and the next export of the same name deletes it once
    /// process <c>{pid}</c> no longer runs.
    /// </para>
    /// <para>
    /// With <see cref="ExportOptions.Overwrite"/>, an existing output is first renamed to
    /// <c>.{name}.replaced-{pid}-{guid}</c>, the new directory is renamed into place, and only then is the old one
    /// deleted; if the second rename fails the old directory is renamed back. The output path therefore holds the
    /// complete old model or the complete new one, never a mix. A process killed between the two renames leaves no
    /// output and the old model under the <c>.replaced-</c> name (rename it back to recover it); the next export of
    /// the same name deletes it as above.
    /// </para>
    /// </remarks>
    /// <param name="checkpointPath">
    /// A checkpoint <see cref="RwkvCheckpoint.Open"/> reads: an rwkv.cpp <c>.bin</c> (FP32, FP16 or quantized), a <c>.pth</c>,
    /// a <c>.safetensors</c> file, a shard index, or a Hugging Face RWKV-4 model directory.
    /// </param>
    /// <param name="outputDirectory">The model directory to create.</param>
    /// <param name="options">Export options.</param>
    /// <param name="progress">Receives per-tensor and per-graph progress, if given.</param>
    /// <param name="cancellationToken">Cancels the export; nothing is left behind.</param>
    /// <returns>The manifest written to the directory.</returns>
    /// <exception cref="FileNotFoundException">The checkpoint does not exist.</exception>
    /// <exception cref="CheckpointFormatException">The checkpoint is unreadable or not a supported RWKV model.</exception>
    /// <exception cref="IOException">The output directory exists and <see cref="ExportOptions.Overwrite"/> is false.</exception>
    /// <exception cref="InvalidDataException"><see cref="ExportOptions.TokenizerPath"/> is not a tokenizer file.</exception>
    /// <exception cref="ArgumentException">
    /// The tokenizer (<see cref="ExportOptions.TokenizerPath"/> or <see cref="ExportOptions.BuiltInTokenizer"/>) does not fit the
    /// checkpoint's vocabulary (more tokens, or far fewer), or both options are set.
    /// </exception>
    public static RwkvManifest Export(string checkpointPath, string outputDirectory, ExportOptions options,
        IProgress<ExportProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(checkpointPath);
        ArgumentException.ThrowIfNullOrWhiteSpace(outputDirectory);
        ArgumentNullException.ThrowIfNull(options);
        string output = Path.GetFullPath(outputDirectory.TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar));
        if ((Directory.Exists(output) || File.Exists(output)) && !options.Overwrite)
        {
            throw new IOException($"Output '{outputDirectory}' already exists; choose another directory or overwrite it explicitly.");
        }

        using RwkvCheckpoint checkpoint = RwkvCheckpoint.Open(checkpointPath);
        RwkvArchitecture architecture = RwkvArchitectures.Detect(checkpoint, options);
        (RwkvTokenizerInfo tokenizer, Func<Stream>? openTokenizer) = CheckTokenizer(options, architecture.Info.Vocab);

        string parent = Path.GetDirectoryName(output) ?? ".";
        Directory.CreateDirectory(parent);
        DeleteStaleSiblings(output);
        string temporary = SiblingName(output, PartialTag);
        Directory.CreateDirectory(temporary);
        try
        {
            if (openTokenizer is not null)
            {
                CopyTokenizer(openTokenizer, Path.Combine(temporary, tokenizer.File!)); // CheckTokenizer sets File with openTokenizer
            }
            RwkvManifest manifest = WriteModel(checkpoint, architecture, temporary, options, tokenizer, progress, cancellationToken);
            cancellationToken.ThrowIfCancellationRequested();
            MoveIntoPlace(temporary, output, options.Overwrite);
            return manifest;
        }
        catch
        {
            TryDelete(temporary);
            throw;
        }
    }

    private static RwkvManifest WriteModel(RwkvCheckpoint checkpoint, RwkvArchitecture architecture, string directory,
        ExportOptions options, RwkvTokenizerInfo tokenizer, IProgress<ExportProgress>? progress, CancellationToken cancellationToken)
    {
        WeightDType headDType = options.HeadWeightDType ?? options.WeightDType;
        int rescaleEvery = options.ResidualRescaleEvery ?? (architecture.Info.Version == "4" && options.WeightDType == WeightDType.Float16 ? 6 : 0);
        int chunkLength = options.PrefillRecurrence == PrefillRecurrence.Chunked ? options.WkvChunkLength ?? architecture.DefaultWkvChunkLength : 0;
        string weightsPath = Path.Combine(directory, RwkvContract.WeightsFile);
        using var weights = new ExternalWeights(weightsPath);
        architecture.PrepareWeights(checkpoint, new WeightSink(weights, options, rescaleEvery, architecture.PreparedTensorCount, progress, cancellationToken));
        weights.Dispose(); // closes the file; offsets stay available for the graphs

        RwkvArchitectureInfo info = architecture.Info;
        (List<string> stepIn, List<string> stepOut) = architecture.GraphIo(GraphKind.Step);
        (List<string> prefillIn, List<string> prefillOut) = architecture.GraphIo(GraphKind.Prefill);
        var manifest = new RwkvManifest
        {
            FormatVersion = RwkvContract.FormatVersion,
            Architecture = info,
            WeightDType = Name(options.WeightDType),
            HeadDType = Name(headDType),
            BlockSize = IsQuantized(options.WeightDType) || IsQuantized(headDType) ? options.BlockSize : null,
            QuantizedCompute = IsQuantized(options.WeightDType) || IsQuantized(headDType) ? Name(options.QuantizedCompute) : null,
            ResidualRescaleEvery = rescaleEvery > 0 ? rescaleEvery : null,
            Opset = options.Opset,
            IrVersion = OnnxModelWriter.IrVersionFor(options.Opset),
            StepGraph = new RwkvGraphInfo { File = RwkvContract.StepGraphFile, Inputs = stepIn, Outputs = stepOut },
            PrefillGraph = new RwkvGraphInfo { File = RwkvContract.PrefillGraphFile, Inputs = prefillIn, Outputs = prefillOut },
            PrefillRecurrence = chunkLength > 0 ? $"chunked-{chunkLength}" : "scan",
            Weights = new RwkvFileInfo { File = RwkvContract.WeightsFile, Bytes = new FileInfo(weightsPath).Length, Sha256 = Sha256([weightsPath]) },
            State = StateTensors(architecture),
            Tokenizer = tokenizer,
            Source = new RwkvSourceInfo { File = Path.GetFileName(Path.TrimEndingDirectorySeparator(checkpoint.Path)), Format = checkpoint.Format, Sha256 = Sha256(checkpoint.Files) },
        };
        string json = manifest.ToJson();

        foreach ((GraphKind kind, string file) in new[] { (GraphKind.Step, RwkvContract.StepGraphFile), (GraphKind.Prefill, RwkvContract.PrefillGraphFile) })
        {
            cancellationToken.ThrowIfCancellationRequested();
            string stage = kind == GraphKind.Step ? "step graph" : "prefill graph";
            progress?.Report(new ExportProgress(stage, 0, 1));
            OnnxGraph graph = architecture.BuildGraph(kind, weights, options.Opset, rescaleEvery, chunkLength);
            OnnxModelWriter.Write(graph, Path.Combine(directory, file), new Dictionary<string, string>
            {
                [RwkvContract.ManifestMetadataKey] = json,
                [RwkvContract.GraphKindMetadataKey] = kind == GraphKind.Step ? "step" : "prefill",
            });
            progress?.Report(new ExportProgress(stage, 1, 1));
        }
        File.WriteAllText(Path.Combine(directory, RwkvContract.ManifestFile), json);
        return manifest;
    }

    // The manifest's tokenizer entry, and how to open the file to copy into the model (null when none is needed): an
    // explicit file or built-in kind is read now and checked against the vocabulary, so a wrong one fails before the
    // export. Without either, the vocabulary picks a built-in tokenizer, or none ("unknown", which the CLI warns about).
    private static (RwkvTokenizerInfo Info, Func<Stream>? Open) CheckTokenizer(ExportOptions options, int vocab)
    {
        if (options.TokenizerPath is { } path)
        {
            if (options.BuiltInTokenizer is { } builtIn)
            {
                throw new ArgumentException($"Both a tokenizer file ('{path}') and the built-in tokenizer '{builtIn}' are given; choose one.", nameof(options));
            }
            if (RwkvTokenizers.Mismatch(RwkvTokenizers.LoadFile(path), vocab) is { } mismatch)
            {
                throw new ArgumentException($"Tokenizer '{path}' {mismatch}.", nameof(options));
            }
            string file = Path.GetFileName(path);
            if (file is RwkvContract.ManifestFile or RwkvContract.StepGraphFile or RwkvContract.PrefillGraphFile or RwkvContract.WeightsFile)
            {
                throw new ArgumentException($"Tokenizer '{path}' has the name of a model file ('{file}'); rename it.", nameof(options));
            }
            return (new RwkvTokenizerInfo { Kind = RwkvTokenizers.DetectKind(path), File = file }, () => File.OpenRead(path));
        }
        if (options.BuiltInTokenizer is { } chosen && RwkvTokenizers.Mismatch(RwkvTokenizers.CreateBuiltIn(chosen), vocab) is { } wrong)
        {
            throw new ArgumentException($"The built-in tokenizer '{chosen}' {wrong}.", nameof(options));
        }
        if ((options.BuiltInTokenizer ?? RwkvTokenizers.DefaultKind(vocab)) is not { } kind)
        {
            return (new RwkvTokenizerInfo { Kind = RwkvTokenizers.UnknownKind }, null);
        }
        return RwkvTokenizers.BuiltInFile(kind) is { } builtInFile
            ? (new RwkvTokenizerInfo { Kind = kind, File = builtInFile }, () => RwkvTokenizers.OpenBuiltInFile(kind))
            : (new RwkvTokenizerInfo { Kind = kind }, null);
    }

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

    internal static string Name(QuantizedCompute compute) => compute == QuantizedCompute.Int8 ? "int8" : "fp32";

    private static bool IsQuantized(WeightDType dtype) => dtype is WeightDType.Int8 or WeightDType.Int4;

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
        }))];

    // SHA-256 of the checkpoint's data files, concatenated in order (one file: the file's own hash).
    private static string Sha256(IReadOnlyList<string> files)
    {
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

    private const string PartialTag = "partial";
    private const string ReplacedTag = "replaced";

    // .{name}.{tag}-{pid}-{guid}: hidden, never named like a model, and carrying its owner's process id.
    private static string SiblingName(string output, string tag) =>
        Path.Combine(Path.GetDirectoryName(output) ?? ".",
            string.Create(CultureInfo.InvariantCulture, $".{Path.GetFileName(output)}.{tag}-{Environment.ProcessId}-{Guid.NewGuid():N}"));

    /// <summary>
    /// Renames the complete <paramref name="temporary"/> directory to <paramref name="output"/>. An existing output
    /// (directory or file) is renamed aside first, restored if the rename fails, and deleted after it succeeds.
    /// </summary>
    /// <exception cref="IOException">The output exists and <paramref name="overwrite"/> is false, or a rename failed.</exception>
    internal static void MoveIntoPlace(string temporary, string output, bool overwrite)
    {
        bool isDirectory = Directory.Exists(output);
        if (!isDirectory && !File.Exists(output))
        {
            Directory.Move(temporary, output);
            return;
        }
        if (!overwrite)
        {
            throw new IOException($"Output '{output}' appeared during the export; choose another directory or overwrite it explicitly.");
        }
        string backup = SiblingName(output, ReplacedTag);
        if (isDirectory)
        {
            Directory.Move(output, backup);
        }
        else
        {
            File.Move(output, backup);
        }
        try
        {
            Directory.Move(temporary, output);
        }
        catch
        {
            if (isDirectory)
            {
                Directory.Move(backup, output);
            }
            else
            {
                File.Move(backup, output);
            }
            throw;
        }
        TryDelete(backup);
    }

    /// <summary>
    /// Deletes the <c>.{name}.partial-{pid}-*</c> and <c>.{name}.replaced-{pid}-*</c> siblings of
    /// <paramref name="output"/> that a killed export left: those whose process no longer runs. Siblings of a
    /// running process (another export of the same name, in this process or another) are left alone.
    /// </summary>
    internal static void DeleteStaleSiblings(string output)
    {
        string parent = Path.GetDirectoryName(output) ?? ".";
        string name = Path.GetFileName(output);
        foreach (string tag in new[] { PartialTag, ReplacedTag })
        {
            string prefix = $".{name}.{tag}-";
            foreach (string sibling in Directory.EnumerateFileSystemEntries(parent, prefix + "*"))
            {
                string rest = Path.GetFileName(sibling)[prefix.Length..];
                int dash = rest.IndexOf('-', StringComparison.Ordinal);
                if (dash > 0 && int.TryParse(rest.AsSpan(0, dash), NumberStyles.None, CultureInfo.InvariantCulture, out int pid) && !IsRunning(pid))
                {
                    TryDelete(sibling);
                }
            }
        }
    }

    private static bool IsRunning(int pid)
    {
        if (pid == Environment.ProcessId)
        {
            return true;
        }
        try
        {
            using Process process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false; // no such process
        }
        catch (InvalidOperationException)
        {
            return false;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return true; // exists but cannot be inspected: assume it is exporting
        }
    }

    // A directory (recursively) or a file; best effort.
    private static void TryDelete(string path)
    {
        try
        {
            if (Directory.Exists(path))
            {
                Directory.Delete(path, recursive: true);
            }
            else
            {
                File.Delete(path);
            }
        }
        catch (IOException)
        {
            // Best effort: the original exception matters more than a leftover temporary directory.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
