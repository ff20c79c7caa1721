using System.CommandLine;
using System.Globalization;
using Rwkv.Onnx.Export;

namespace Rwkv.Onnx.Cli.Commands;

/// <summary><c>rwkv-onnx export &lt;checkpoint&gt; -o &lt;dir&gt; [--dtype fp32|fp16] [--group-norm-eps E] [--force] [--tokenizer &lt;file&gt;]</c>.</summary>
internal static class ExportCommand
{
    public static Command Create()
    {
        var checkpoint = new Argument<string>("checkpoint") { Description = "The checkpoint to export (rwkv.cpp .bin, FP32 or FP16)." };
        var output = new Option<string>("--output", "-o") { Description = "The model directory to create.", Required = true };
        var dtype = new Option<string>("--dtype")
        {
            Description = "Storage type of the weight matrices.",
            DefaultValueFactory = _ => "fp32",
            HelpName = "fp32|fp16",
        };
        dtype.Validators.Add(result =>
        {
            string value = result.GetValueOrDefault<string>();
            if (value is not ("fp32" or "fp16"))
            {
                result.AddError($"--dtype: '{value}' is not a weight type; expected fp32 or fp16.");
            }
        });
        Option<float?> groupNormEps = GroupNormEpsilonOption.Create();
        var force = new Option<bool>("--force") { Description = "Replace the output directory if it exists." };
        var tokenizer = new Option<string?>("--tokenizer")
        {
            Description = "A tokenizer file to copy into the model: a World vocabulary .txt or a Hugging Face tokenizer.json.",
            HelpName = "file",
        };

        var command = new Command("export", "Export a checkpoint to an ONNX model directory (step.onnx, prefill.onnx, weights, manifest).")
        {
            checkpoint, output, dtype, groupNormEps, force, tokenizer,
        };
        command.SetAction(parsed =>
        {
            TextWriter stdout = parsed.InvocationConfiguration.Output;
            TextWriter stderr = parsed.InvocationConfiguration.Error;
            string outputDirectory = parsed.GetRequiredValue(output);
            bool overwrite = parsed.GetValue(force);
            if (!overwrite && (Directory.Exists(outputDirectory) || File.Exists(outputDirectory)))
            {
                throw new UsageException($"--output: '{outputDirectory}' already exists; pass --force to replace it.");
            }
            var options = new ExportOptions
            {
                WeightDType = parsed.GetRequiredValue(dtype) == "fp16" ? WeightDType.Float16 : WeightDType.Float32,
                Overwrite = overwrite,
                GroupNormEpsilon = parsed.GetValue(groupNormEps),
                TokenizerPath = parsed.GetValue(tokenizer),
            };
            RwkvManifest manifest = ExportProgressDisplay.Run(stderr,
                progress => RwkvExporter.Export(parsed.GetRequiredValue(checkpoint), outputDirectory, options, progress));
            WriteSummary(stdout, outputDirectory, manifest);
            return ExitCodes.Success;
        });
        return command;
    }

    private static void WriteSummary(TextWriter stdout, string directory, RwkvManifest manifest)
    {
        RwkvArchitectureInfo a = manifest.Architecture;
        var c = CultureInfo.InvariantCulture;
        stdout.WriteLine($"exported RWKV-{a.Version} to {directory}");
        stdout.WriteLine(string.Create(c, $"  layers {a.Layers}, width {a.Embedding}, heads {a.Heads} x {a.HeadSize}, vocab {a.Vocab}, ffn {a.FfnSize}, parameters {a.Parameters:N0}"));
        stdout.WriteLine(string.Create(c, $"  weights {manifest.WeightDType}, opset {manifest.Opset}, group-norm eps {a.GroupNormEpsilon:G}, tokenizer {manifest.Tokenizer.Kind}"));
        foreach (FileInfo file in new DirectoryInfo(directory).GetFiles().OrderBy(f => f.Name, StringComparer.Ordinal))
        {
            stdout.WriteLine(string.Create(c, $"  {file.Name,-20} {FormatSize(file.Length),10}"));
        }
    }

    internal static string FormatSize(long bytes) => bytes switch
    {
        < 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes} B"),
        < 1024 * 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:F1} KiB"),
        < 1024L * 1024 * 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (1024.0 * 1024):F1} MiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes / (1024.0 * 1024 * 1024):F2} GiB"),
    };
}
