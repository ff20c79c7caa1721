using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Rwkv.Onnx.Cli.Output;
using Rwkv.Onnx.Export.Checkpoints;
using Rwkv.Onnx.Export.RandomCheckpoints;

namespace Rwkv.Onnx.Cli.Commands;

/// <summary>
/// <c>rwkv-onnx random-checkpoint --version 4|5.0|5.1|5.2|6|7 --layers L --embd D [--vocab V] [--ffn F] [--head-size N]
/// [--seed S] [--dtype fp32|fp16] -o &lt;file&gt; [--force]</c>: a seeded random-weight model of a real shape in rwkv.cpp's
/// <c>.bin</c> format, written tensor by tensor (peak memory about one tensor, the embedding).
/// </summary>
internal static class RandomCheckpointCommand
{
    private static readonly string[] s_versions = ["4", "5.0", "5.1", "5.2", "6", "7"];

    public static Command Create()
    {
        var version = new Option<string>("--version") { Description = "RWKV version: 4, 5.0, 5.1, 5.2, 6 or 7.", Required = true, HelpName = "4|5.2|6|7" };
        version.Validators.Add(result =>
        {
            string value = result.GetValueOrDefault<string>();
            if (!s_versions.Contains(value))
            {
                result.AddError($"--version: '{value}' is not a supported version; expected one of {string.Join(", ", s_versions)}.");
            }
        });
        var layers = new Option<int>("--layers") { Description = "Number of blocks L.", Required = true }.InRange(NumericRange.AtLeast(1));
        var embd = new Option<int>("--embd") { Description = "Width D (a multiple of the head size for v5-v7).", Required = true }.InRange(NumericRange.AtLeast(1));
        var vocab = new Option<int>("--vocab") { Description = "Vocabulary size.", DefaultValueFactory = _ => 65536 }.InRange(NumericRange.AtLeast(1));
        var ffn = new Option<int?>("--ffn") { Description = "Channel-mix hidden width (default 4·D for v4 and v7, 3.5·D rounded down to 32 for v5 and v6)." }
            .InRange(NumericRange.AtLeast(1));
        var headSize = new Option<int>("--head-size") { Description = "Head size (v5-v7).", DefaultValueFactory = _ => 64 }.InRange(NumericRange.AtLeast(1));
        var seed = new Option<int>("--seed") { Description = "Seed of the random weights: the same arguments and seed write the same bytes.", DefaultValueFactory = _ => 0 }
            .InRange(NumericRange.Any<int>());
        var dtype = new Option<string>("--dtype") { Description = "fp32, or fp16 for the matrices (v6 and v7), as rwkv.cpp's converter stores them.", DefaultValueFactory = _ => "fp32", HelpName = "fp32|fp16" };
        dtype.Validators.Add(result =>
        {
            string value = result.GetValueOrDefault<string>();
            if (value is not ("fp32" or "fp16"))
            {
                result.AddError($"--dtype: '{value}' is not a weight type; expected fp32 or fp16.");
            }
        });
        var output = new Option<string>("--output", "-o") { Description = "The .bin file to write.", Required = true };
        var force = new Option<bool>("--force") { Description = "Replace the output file if it exists." };

        var command = new Command("random-checkpoint", "Write a seeded random-weight RWKV checkpoint of a real shape (rwkv.cpp .bin) for benchmarks.")
        {
            version, layers, embd, vocab, ffn, headSize, seed, dtype, output, force,
        };
        command.Validators.Add(result =>
        {
            if (OptionValues.IsGiven(result, headSize) && result.GetValue(version) == "4")
            {
                result.AddError("--head-size: RWKV-4 has no heads; the option has no effect with --version 4.");
            }
        });
        command.SetAction(parsed =>
        {
            string path = parsed.GetRequiredValue(output);
            OutputFiles outputs = OutputFiles.Check([("--output", path)], replace: parsed.GetValue(force), forceOption: "--force");
            var spec = new Spec(
                parsed.GetRequiredValue(version), parsed.GetValue(layers), parsed.GetValue(embd), parsed.GetValue(vocab),
                parsed.GetValue(ffn), parsed.GetValue(headSize), parsed.GetValue(seed),
                parsed.GetRequiredValue(dtype) == "fp16" ? TensorDType.Float16 : TensorDType.Float32);
            CheckTensorSizes(spec);
            var stopwatch = Stopwatch.StartNew();
            outputs.WriteFile("--output", temporary => Write(temporary, spec));
            parsed.InvocationConfiguration.Output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"wrote random RWKV-{spec.Version} L{spec.Layers} D{spec.Embd} V{spec.Vocab} F{spec.FfnOrDefault} ({(spec.DType == TensorDType.Float16 ? "fp16" : "fp32")}, seed {spec.Seed}) to {path}: {ExportCommand.FormatSize(new FileInfo(path).Length)} in {stopwatch.Elapsed.TotalSeconds:F1} s"));
            return ExitCodes.Success;
        });
        return command;
    }

    private static void Write(string path, Spec spec)
    {
        int c = spec.Embd, f = checked((int)spec.FfnOrDefault);
        if (spec.DType == TensorDType.Float16 && spec.Version is not ("6" or "7"))
        {
            throw new UsageException($"--dtype: fp16 is written for versions 6 and 7 only, not {spec.Version}.");
        }
        if (spec.Version != "4" && c % spec.HeadSize != 0)
        {
            throw new UsageException($"--embd: {c} is not a multiple of the head size {spec.HeadSize}.");
        }
        RwkvRandomCheckpoint.Write(path, spec.Version, spec.Layers, c, spec.HeadSize, spec.Vocab, f, spec.Seed, spec.DType);
    }

    /// <summary>
    /// Every tensor is drawn into one float array, so none may hold more than <see cref="Array.MaxLength"/> elements. The
    /// largest are [D, D] (the attention matrices), [V, D] (embedding and head) and [F, D] (the channel mix), so the limits
    /// are on --embd alone, then on --vocab and --ffn at that width. Checked before the file is created.
    /// </summary>
    private static void CheckTensorSizes(Spec spec)
    {
        long c = spec.Embd, limit = Array.MaxLength;
        long widest = (long)Math.Sqrt(limit);
        if (c * c > limit)
        {
            throw new UsageException(string.Create(CultureInfo.InvariantCulture,
                $"--embd: {c} makes each [{c}, {c}] attention matrix {c * c} elements, more than one tensor holds ({limit}); --embd can be at most {widest}."));
        }
        if (spec.Vocab * c > limit)
        {
            throw new UsageException(string.Create(CultureInfo.InvariantCulture,
                $"--vocab: {spec.Vocab} at --embd {c} makes 'emb.weight' and 'head.weight' [{spec.Vocab}, {c}] {spec.Vocab * c} elements, more than one tensor holds ({limit}); at this --embd, --vocab can be at most {limit / c}."));
        }
        long f = spec.FfnOrDefault;
        if (f * c > limit)
        {
            string which = spec.Ffn is null ? $"the default --ffn {f}" : $"--ffn {f}";
            throw new UsageException(string.Create(CultureInfo.InvariantCulture,
                $"--ffn: {which} at --embd {c} makes 'ffn.key.weight' [{f}, {c}] {f * c} elements, more than one tensor holds ({limit}); at this --embd, --ffn can be at most {limit / c}."));
        }
    }

    private sealed record Spec(string Version, int Layers, int Embd, int Vocab, int? Ffn, int HeadSize, int Seed, TensorDType DType)
    {
        // In long: 4·D overflows an int from D = 536,870,912, long before CheckTensorSizes reports the width.
        public long FfnOrDefault => Ffn ?? (Version is "4" or "7" ? 4L * Embd : 7L * Embd / 2 / 32 * 32);
    }
}
