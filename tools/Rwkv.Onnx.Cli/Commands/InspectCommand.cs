using System.CommandLine;
using System.Globalization;
using Rwkv.Onnx.Export;

namespace Rwkv.Onnx.Cli.Commands;

/// <summary><c>rwkv-onnx inspect &lt;model-dir|checkpoint&gt;</c>: what was detected, without loading sessions or exporting.</summary>
internal static class InspectCommand
{
    public static Command Create()
    {
        var path = new Argument<string>("path") { Description = "An exported model directory, a checkpoint file or a Hugging Face model directory." };
        Option<float?> groupNormEps = GroupNormEpsilonOption.Create();
        var command = new Command("inspect", "Print the detected version, sizes, parameter count, dtype and state size per sequence.") { path, groupNormEps };
        command.SetAction(parsed =>
        {
            string target = parsed.GetRequiredValue(path);
            TextWriter stdout = parsed.InvocationConfiguration.Output;
            if (Directory.Exists(target) && File.Exists(Path.Combine(target, RwkvContract.ManifestFile)))
            {
                RwkvManifest manifest = RwkvManifest.Load(target);
                Write(stdout, $"model directory {target}", manifest.Architecture, manifest.WeightDType, manifest.State);
                stdout.WriteLine($"  opset {manifest.Opset}, IR {manifest.IrVersion}, tokenizer {manifest.Tokenizer.Kind}");
                stdout.WriteLine($"  prefill recurrence {manifest.PrefillRecurrence ?? "not recorded"}");
                stdout.WriteLine($"  source {manifest.Source.File} ({manifest.Source.Format}, sha256 {manifest.Source.Sha256})");
            }
            else if (File.Exists(target) || Directory.Exists(target)) // a checkpoint, or a Hugging Face model directory
            {
                RwkvCheckpointInfo info = RwkvExporter.Inspect(target, new ExportOptions { GroupNormEpsilon = parsed.GetValue(groupNormEps) });
                Write(stdout, $"checkpoint {target} ({info.Format})", info.Architecture, info.DType, info.State);
            }
            else
            {
                throw new FileNotFoundException($"'{target}' is neither a model directory nor a checkpoint file.", target);
            }
            return ExitCodes.Success;
        });
        return command;
    }

    private static void Write(TextWriter stdout, string title, RwkvArchitectureInfo a, string dtype, IReadOnlyList<RwkvStateTensorInfo> state)
    {
        long stateBytes = state.Sum(s => s.Shape.Aggregate(4L, (bytes, d) => bytes * d));
        var c = CultureInfo.InvariantCulture;
        stdout.WriteLine(title);
        stdout.WriteLine($"  version RWKV-{a.Version}");
        stdout.WriteLine(string.Create(c, $"  layers {a.Layers}, width {a.Embedding}, heads {a.Heads} x {a.HeadSize}, vocab {a.Vocab}, ffn {a.FfnSize}"));
        if (a.LoraRanks.Count > 0)
        {
            stdout.WriteLine($"  lora ranks {string.Join(", ", a.LoraRanks.Select(r => $"{r.Key} {r.Value}"))}");
        }
        stdout.WriteLine(string.Create(c, $"  parameters {a.Parameters:N0}, dtype {dtype}"));
        stdout.WriteLine(string.Create(c, $"  state per sequence {stateBytes:N0} bytes ({state.Count} tensors, float32)"));
        stdout.WriteLine(string.Create(c, $"  norm eps: layer {a.LayerNormEpsilon:G}, group {a.GroupNormEpsilon:G}"));
    }
}
