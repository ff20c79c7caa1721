using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Rwkv.Onnx.Export;

namespace Rwkv.Onnx.Cli.Commands;

/// <summary>
/// <c>rwkv-onnx export &lt;checkpoint&gt; -o &lt;dir&gt; [--dtype fp32|fp16|int8|int4] [--quant LAYOUT] [--head-dtype ...] [--block-size B]
/// [--group-norm-eps E] [--force] [--tokenizer world|neox|bytes|&lt;file&gt;] [--prefill-recurrence scan|chunked] [--wkv-chunk L]
/// [--target rwkv|genai] [--time-state &lt;file&gt;] [--context-limit N]</c>.
/// </summary>
internal static class ExportCommand
{
    public static Command Create()
    {
        var checkpoint = new Argument<string>("checkpoint") { Description = "The checkpoint to export: .pth, pytorch_model.bin, .safetensors (or its index), a Hugging Face RWKV-4 directory, or rwkv.cpp .bin (FP32, FP16, Q4/Q5/Q8)." };
        var output = new Option<string>("--output", "-o") { Description = "The model directory to create.", Required = true };
        var dtype = new Option<Choice<WeightDType>>("--dtype")
        {
            Description = "Storage type of the weight matrices; int8/int4 block-quantize the linear layers (ONNX Runtime MatMulNBits).",
        }.OneOf(s_weightDTypes, WeightDType.Float32);
        var headDType = new Option<WeightDType?>("--head-dtype")
        {
            Description = "Storage type of the LM head. Default: the --dtype.",
        }.OneOf(s_weightDTypes);
        var quant = new Option<QuantLayout?>("--quant")
        {
            Description = $"The int8/int4 layout: a preset ({string.Join(", ", QuantLayout.Presets.Keys)}) or a spec such as " +
                "int4:block=32,rounding=search,head=fp32,int8-roles=att-value+ffn-value (ACCURACY.md). Sets --dtype; --block-size, --head-dtype and --quant-compute override its parts.",
            CustomParser = ParseLayout,
            HelpName = "LAYOUT",
        };
        var blockSize = new Option<int?>("--block-size")
        {
            Description = "Weights per quantization scale for int8/int4 (--dtype or --head-dtype): a power of two from 16 to 256. Default: the layout's.",
            HelpName = "B",
        }.InRange(NumericRange.From(16, 256));
        blockSize.Validators.Add(result =>
        {
            if (OptionValues.TryGet(result, out int? value) && value is { } v && !int.IsPow2(v)) // the range is the parser's
            {
                result.AddError($"--block-size: {value} is not a power of two from 16 to 256.");
            }
        });
        var quantCompute = new Option<Choice<QuantizedCompute>>("--quant-compute")
        {
            Description = "Arithmetic of the int8/int4 matmuls: int8 quantizes activations per block (fast on CPU), fp32 dequantizes weights (closest to fp32, slow for int8 on CPU).",
        }.OneOf(s_quantizedComputes, QuantizedCompute.Int8);
        var rescaleEvery = new Option<int?>("--rescale-every")
        {
            Description = "Halve the residual stream every N layers (weights scaled to match) so fp16 matmuls do not overflow; 0 turns it off. Default: 6 for RWKV-4 fp16 exports, else 0.",
            HelpName = "N",
        }.InRange(NumericRange.AtLeast(0));
        Option<float?> groupNormEps = GroupNormEpsilonOption.Create();
        var force = new Option<bool>("--force") { Description = "Replace the output directory if it exists." };
        var tokenizer = new Option<string?>("--tokenizer")
        {
            Description = "The model's tokenizer, copied into the model directory: built-in world (RWKV World) or neox (GPT-NeoX-20B, " +
                "RWKV-4 Pile/Raven), bytes, or a file (a World vocabulary .txt or a Hugging Face tokenizer.json; ./world for a file named world). " +
                "Default: picked by the vocabulary (256 bytes, 50277 neox, 65536 world).",
            HelpName = "world|neox|bytes|file",
        };

        var recurrence = new Option<Choice<PrefillRecurrence>>("--prefill-recurrence")
        {
            Description = "How prefill.onnx runs the WKV recurrence: chunked (matrix products within chunks; default, faster on CPU) or scan (token by token).",
        }.OneOf(s_prefillRecurrences, PrefillRecurrence.Chunked);
        var wkvChunk = new Option<int?>("--wkv-chunk")
        {
            Description = "Tokens per chunk of the chunked prefill recurrence: a power of two from 4 to 64 (default: 32 for RWKV-7, 16 for RWKV-4/5/6); not with scan.",
            HelpName = "L",
        }.InRange(NumericRange.From(4, 64));
        wkvChunk.Validators.Add(result =>
        {
            if (OptionValues.TryGet(result, out int? value) && value is { } l && !int.IsPow2(l)) // the range is the parser's
            {
                result.AddError($"--wkv-chunk: {value} is not a power of two from 4 to 64.");
            }
        });

        var target = new Option<Choice<ExportTarget>>("--target")
        {
            Description = "The runtime the directory is for: rwkv (this runtime, any ONNX Runtime client via the manifest) or genai " +
                "(onnxruntime-genai unchanged: packed state, genai_config.json, tokenizer.json for bytes and neox vocabularies).",
        }.OneOf(s_targets, ExportTarget.Rwkv);
        var timeState = new Option<string?>("--time-state")
        {
            Description = "With --target genai: a state-tuning file (RWKV-PEFT .pth with blocks.{i}.att.time_state; RWKV-5/6/7) whose trained " +
                "initial state the graphs start from, since genai starts every state at zero. This runtime loads one at run time instead (--state).",
            HelpName = "file",
        };

        var contextLimit = new Option<int?>("--context-limit")
        {
            Description = "RWKV-7b (DEA) only: the most tokens a sequence's state holds; its attention cache keeps every token " +
                "(260 bytes per token per layer, allocated with the state) and a longer run is refused. Default: 4096.",
            HelpName = "N",
        }.InRange(NumericRange.From(1, 1 << 24));

        var command = new Command("export", "Export a checkpoint to an ONNX model directory (step.onnx, prefill.onnx, state_copy.onnx, weights, manifest).")
        {
            checkpoint, output, dtype, quant, headDType, blockSize, quantCompute, rescaleEvery, groupNormEps, force, tokenizer, recurrence, wkvChunk, target,
            timeState, contextLimit,
        };
        command.Validators.Add(result =>
        {
            if (OptionValues.IsGiven(result, timeState) && !(OptionValues.TryGet(result, target, out Choice<ExportTarget> t) && t.Value == ExportTarget.Genai))
            {
                result.AddError("--time-state: applies to --target genai; a model exported for this runtime starts from a time state at run time (generate, chat --state <file>).");
            }
        });
        command.Validators.Add(result =>
        {
            if (OptionValues.IsGiven(result, quant) && OptionValues.IsGiven(result, dtype) && OptionValues.TryGet(result, quant, out QuantLayout? layout)
                && OptionValues.TryGet(result, dtype, out Choice<WeightDType> d) && layout is not null && d.Value != layout.Bits)
            {
                result.AddError($"--quant: layout '{layout}' is {Name(layout.Bits)}, but --dtype is {Name(d.Value)}; give --quant alone (it sets the dtype).");
            }
        });
        command.Validators.Add(result => RefuseOptionsWithoutEffect(result, dtype, quant, headDType, blockSize, quantCompute, recurrence, wkvChunk));
        GroupNormEpsilonOption.RefuseWhereNoEffect(command, groupNormEps, checkpoint);
        command.SetAction(parsed =>
        {
            TextWriter stdout = parsed.InvocationConfiguration.Output;
            TextWriter stderr = parsed.InvocationConfiguration.Error;
            string outputDirectory = parsed.GetRequiredValue(output);
            bool overwrite = parsed.GetValue(force);
            foreach (ExportLeftover leftover in RwkvExporter.CleanUpLeftovers(outputDirectory))
            {
                stderr.WriteLine(Describe(leftover));
            }
            QuantLayout? layout = parsed.GetValue(quant);
            var options = new ExportOptions
            {
                WeightDType = layout?.Bits ?? parsed.GetValue(dtype),
                HeadWeightDType = parsed.GetValue(headDType) ?? layout?.Head,
                BlockSize = parsed.GetValue(blockSize) ?? layout?.BlockSize,
                BlockRounding = layout?.Rounding,
                Int8Roles = layout?.Int8Roles,
                QuantizedCompute = parsed.GetResult(quantCompute) is { Implicit: false } || layout is null ? parsed.GetValue(quantCompute) : layout.Compute,
                ResidualRescaleEvery = parsed.GetValue(rescaleEvery),
                Overwrite = overwrite,
                GroupNormEpsilon = parsed.GetValue(groupNormEps),
                TokenizerPath = TokenizerChoice.File(parsed.GetValue(tokenizer)),
                BuiltInTokenizer = TokenizerChoice.BuiltIn(parsed.GetValue(tokenizer)),
                PrefillRecurrence = parsed.GetValue(recurrence),
                WkvChunkLength = parsed.GetValue(wkvChunk),
                Target = parsed.GetValue(target),
                TimeStatePath = parsed.GetValue(timeState),
                ContextLimit = parsed.GetValue(contextLimit),
            };
            RwkvManifest manifest;
            try
            {
                manifest = ExportProgressDisplay.Run(stderr,
                    progress => RwkvExporter.Export(parsed.GetRequiredValue(checkpoint), outputDirectory, options, progress));
            }
            catch (ExportOutputException e) when (e.Conflict != ExportOutputConflict.ExportInProgress)
            {
                throw new UsageException(OutputMessage(e));
            }
            WriteSummary(stdout, outputDirectory, manifest);
            if (options.Target == ExportTarget.Genai)
            {
                ExportNotes.WriteGenai(stderr, outputDirectory, manifest, parsed.GetValue(groupNormEps));
                return ExitCodes.Success;
            }
            ExportNotes.Write(stderr, outputDirectory, manifest, parsed.GetValue(groupNormEps));
            return ExitCodes.Success;
        });
        return command;
    }

    // The exporter's refusal in the command line's terms: another directory first, --force only for an earlier export.
    private static string OutputMessage(ExportOutputException e) => e.Conflict switch
    {
        ExportOutputConflict.Exists when e.IsEarlierExport =>
            $"--output: '{e.OutputPath}' already holds an earlier export; choose another directory, or pass --force to replace it.",
        ExportOutputConflict.Exists => $"--output: '{e.OutputPath}' already exists ({e.Detail}); choose another directory.",
        ExportOutputConflict.NotAnExport =>
            $"--output: '{e.OutputPath}' is not an earlier export ({e.Detail}); --force replaces only a directory written by export, so nothing was touched. Choose another directory.",
        // The exporter's sentences start "Output 'x' ...": the option name takes that word's place.
        _ => $"--output: {(e.Message.StartsWith("Output ", StringComparison.Ordinal) ? e.Message["Output ".Length..] : e.Message)}",
    };

    private static string Describe(ExportLeftover leftover) => leftover.RestoredTo is { } restored
        ? $"note: renamed '{leftover.Path}' back to '{restored}': an earlier export that export process {leftover.ProcessId} had moved aside to replace it before it was killed."
        : $"note: removed '{leftover.Path}' ({FormatSize(leftover.Bytes)}), left by export process {leftover.ProcessId}, which is no longer running.";

    private static void WriteSummary(TextWriter stdout, string directory, RwkvManifest manifest)
    {
        RwkvArchitectureInfo a = manifest.Architecture;
        var c = CultureInfo.InvariantCulture;
        stdout.WriteLine($"exported RWKV-{a.Version}{(a.Variant is { } variant ? $", variant {variant}," : "")} to {directory}");
        stdout.WriteLine(string.Create(c, $"  layers {a.Layers}, width {a.Embedding}, heads {a.Heads} x {a.HeadSize}, vocab {a.Vocab}, ffn {a.FfnSize}, parameters {a.Parameters:N0}"));
        string quantized = manifest.BlockSize is { } block ? string.Create(c, $" ({LayoutSummary(manifest)})") : "";
        stdout.WriteLine(string.Create(c, $"  weights {manifest.WeightDType}, head {manifest.HeadDType}{quantized}, opset {manifest.Opset}, group-norm eps {a.GroupNormEpsilon:G}, tokenizer {manifest.Tokenizer.Kind}, prefill recurrence {manifest.PrefillRecurrence}"));
        WriteFiles(stdout, directory, "  ");
    }

    /// <summary>
    /// The quantization layout in words for the export summary and <c>inspect</c>: block size and arithmetic, then what
    /// differs from plain max-scaled symmetric blocks (zero points, searched scales, roles kept at 8 bits), then the
    /// preset's name when it is one, e.g. <c>block 32, int8 compute, zero points, searched scales, int8 att-value; layout int4-accurate</c>.
    /// </summary>
    internal static string LayoutSummary(RwkvManifest m)
    {
        var parts = new List<string> { string.Create(CultureInfo.InvariantCulture, $"block {m.BlockSize}"), $"{m.QuantizedCompute ?? "fp32"} compute" };
        parts.AddRange(m.BlockRounding switch
        {
            "search" => ["searched scales"],
            "zero-point" => ["zero points"],
            "zero-point-search" => ["zero points", "searched scales"],
            _ => [],
        });
        if (m.Int8Roles is { Count: > 0 } roles)
        {
            parts.Add($"int8 {string.Join("+", roles)}");
        }
        string details = string.Join(", ", parts);
        return m.QuantLayout is { } name && QuantLayout.Presets.ContainsKey(name) ? $"{details}; layout {name}" : details;
    }

    /// <summary>Writes each file of <paramref name="directory"/> with its size, one per line after <paramref name="indent"/>, by name.</summary>
    internal static void WriteFiles(TextWriter stdout, string directory, string indent)
    {
        foreach (FileInfo file in new DirectoryInfo(directory).GetFiles().OrderBy(f => f.Name, StringComparer.Ordinal))
        {
            stdout.WriteLine($"{indent}{file.Name,-20} {FormatSize(file.Length),10}");
        }
    }

    /// <summary>Bytes of the files directly in <paramref name="directory"/>.</summary>
    internal static long DirectoryBytes(string directory) => new DirectoryInfo(directory).GetFiles().Sum(f => f.Length);

    // Options the command line alone shows to have no effect: the quantization settings without a quantized weight
    // type, the chunk length with the scan recurrence.
    private static void RefuseOptionsWithoutEffect(CommandResult result, Option<Choice<WeightDType>> dtype, Option<QuantLayout?> quant, Option<WeightDType?> headDType,
        Option<int?> blockSize, Option<Choice<QuantizedCompute>> quantCompute, Option<Choice<PrefillRecurrence>> recurrence, Option<int?> wkvChunk)
    {
        if (!OptionValues.IsGiven(result, quant) && OptionValues.TryGet(result, dtype, out Choice<WeightDType> weights) && !IsQuantized(weights)
            && !(OptionValues.TryGet(result, headDType, out WeightDType? head) && head is { } h && IsQuantized(h)))
        {
            foreach (Option option in new Option[] { blockSize, quantCompute })
            {
                if (OptionValues.IsGiven(result, option))
                {
                    result.AddError($"{option.Name}: applies to int8 and int4 weights; it has no effect unless --dtype or --head-dtype is int8 or int4.");
                }
            }
        }
        if (OptionValues.IsGiven(result, wkvChunk) && OptionValues.TryGet(result, recurrence, out Choice<PrefillRecurrence> form) && form.Value == PrefillRecurrence.Scan)
        {
            result.AddError("--wkv-chunk: sets the chunk length of the chunked recurrence; it has no effect with --prefill-recurrence scan.");
        }
    }

    private static bool IsQuantized(WeightDType dtype) => dtype is WeightDType.Int8 or WeightDType.Int4;

    private static string Name(WeightDType dtype) => s_weightDTypes.Named(dtype).Name;

    private static QuantLayout? ParseLayout(ArgumentResult result)
    {
        string text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
        try
        {
            return QuantLayout.Parse(text);
        }
        catch (FormatException e)
        {
            result.AddError($"--quant: {e.Message}");
            return null;
        }
    }

    private static readonly Choices<QuantizedCompute> s_quantizedComputes =
        new("a quantized arithmetic", ("int8", QuantizedCompute.Int8), ("fp32", QuantizedCompute.Float32));

    private static readonly Choices<WeightDType> s_weightDTypes =
        new("a weight type", ("fp32", WeightDType.Float32), ("fp16", WeightDType.Float16), ("int8", WeightDType.Int8), ("int4", WeightDType.Int4));

    private static readonly Choices<ExportTarget> s_targets =
        new("an export target", ("rwkv", ExportTarget.Rwkv), ("genai", ExportTarget.Genai));

    private static readonly Choices<PrefillRecurrence> s_prefillRecurrences =
        new("a recurrence form", ("chunked", PrefillRecurrence.Chunked), ("scan", PrefillRecurrence.Scan));

    internal static string FormatSize(long bytes) => bytes switch
    {
        < 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes} B"),
        < 1024 * 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:F1} KiB"),
        < 1024L * 1024 * 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (1024.0 * 1024):F1} MiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes / (1024.0 * 1024 * 1024):F2} GiB"),
    };
}
