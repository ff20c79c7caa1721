using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Rwkv.Onnx.Cli.Bench;
using Rwkv.Onnx.Export;

namespace Rwkv.Onnx.Cli.Commands;

/// <summary>
/// <c>rwkv-onnx inspect &lt;model-dir|checkpoint&gt; [--load]</c>: what was detected and the size on disk, without exporting;
/// with <c>--load</c>, also the time ONNX Runtime takes to load a model directory and the private memory it then holds.
/// </summary>
internal static class InspectCommand
{
    public static Command Create()
    {
        var path = new Argument<string>("path") { Description = "An exported model directory, a checkpoint file or a Hugging Face model directory." };
        Option<float?> groupNormEps = GroupNormEpsilonOption.Create();
        var load = new Option<bool>("--load") { Description = "Also load a model directory on the CPU provider and print the load time and private memory." };
        var command = new Command("inspect", "Print the detected version, sizes, parameter count, dtype, size on disk and state size per sequence.")
        {
            path, groupNormEps, load,
        };
        GroupNormEpsilonOption.RefuseWhereNoEffect(command, groupNormEps, path);
        command.SetAction(parsed =>
        {
            string target = parsed.GetRequiredValue(path);
            TextWriter stdout = parsed.InvocationConfiguration.Output;
            if (Directory.Exists(target) && File.Exists(Path.Combine(target, RwkvContract.ManifestFile)))
            {
                RwkvManifest manifest = RwkvManifest.Load(target);
                Write(stdout, $"model directory {target}", manifest.Architecture, Precision(manifest), manifest.State);
                stdout.WriteLine($"  opset {manifest.Opset}, IR {manifest.IrVersion}, tokenizer {manifest.Tokenizer.Kind}");
                stdout.WriteLine($"  prefill recurrence {manifest.PrefillRecurrence ?? "not recorded"}");
                if (manifest.ContextLimit is { } limit)
                {
                    stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"  context limit {limit.MaxTokens} tokens, state {limit.StateBytesPerToken} bytes per token (allocated with the state; the cache keeps every token)"));
                }
                WriteContract(stdout, manifest);
                stdout.WriteLine($"  source {manifest.Source.File} ({manifest.Source.Format}, sha256 {manifest.Source.Sha256})");
                stdout.WriteLine($"  size on disk {ExportCommand.FormatSize(ExportCommand.DirectoryBytes(target))}:");
                ExportCommand.WriteFiles(stdout, target, "    ");
                if (parsed.GetValue(load))
                {
                    long privateBefore = MachineProbe.PrivateBytes();
                    var clock = Stopwatch.StartNew();
                    using (RwkvModel.Load(target))
                    {
                        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  load time {clock.Elapsed.TotalSeconds:F2} s (CPU provider, both graphs)"));
                        stdout.WriteLine($"  private memory of the loaded model {ExportCommand.FormatSize(MachineProbe.PrivateBytes() - privateBefore)} (process growth during load)");
                    }
                }
            }
            else if (File.Exists(target) || Directory.Exists(target)) // a checkpoint, or a Hugging Face model directory
            {
                if (parsed.GetValue(load))
                {
                    throw new UsageException($"--load: loads an exported model directory; '{target}' is not one (export it first), so the option would have no effect.");
                }
                RwkvCheckpointInfo info = RwkvExporter.Inspect(target, new ExportOptions { GroupNormEpsilon = parsed.GetValue(groupNormEps) });
                ExportNotes.GroupNormEpsilon(parsed.InvocationConfiguration.Error, info.Format, info.Architecture.Version, parsed.GetValue(groupNormEps));
                Write(stdout, $"checkpoint {target} ({info.Format})", info.Architecture, info.DType, info.State);
                long bytes = File.Exists(target) ? new FileInfo(target).Length : ExportCommand.DirectoryBytes(target);
                stdout.WriteLine($"  size on disk {ExportCommand.FormatSize(bytes)}");
            }
            else
            {
                throw new FileNotFoundException($"'{target}' is neither a model directory nor a checkpoint file.", target);
            }
            return ExitCodes.Success;
        });
        return command;
    }

    // What an outside client needs besides the graphs' I/O (CONTRACT.md): the tokenizer and its stop ids, the chat
    // template, and what the graphs need from ONNX Runtime. Manifests written before these were recorded say so.
    private static void WriteContract(TextWriter stdout, RwkvManifest m)
    {
        string file = m.Tokenizer.File is { } f ? $" ({f})" : "";
        if (m.Generation is { } g)
        {
            string endOfText = g.EndOfTextId is int id ? id.ToString(CultureInfo.InvariantCulture) : "none";
            string stops = g.StopTokenIds.Count == 0 ? "none" : string.Join(", ", g.StopTokenIds.Select(t => t.ToString(CultureInfo.InvariantCulture)));
            stdout.WriteLine($"  tokenizer {m.Tokenizer.Kind}{file}, end of text {endOfText}, stop tokens {stops}, chat template {g.ChatTemplate.Name}");
        }
        else
        {
            stdout.WriteLine($"  tokenizer {m.Tokenizer.Kind}{file}, stop tokens and chat template not recorded");
        }
        stdout.WriteLine($"  minimum ONNX Runtime {m.MinOnnxRuntimeVersion ?? "not recorded"}");
        foreach (RwkvGraphInfo graph in new[] { m.StepGraph, m.PrefillGraph, m.StateCopyGraph })
        {
            string domains = graph.OpsetImports is { } imports
                ? string.Join(", ", imports.Select(i => string.Create(CultureInfo.InvariantCulture, $"{i.Domain} {i.Version}")))
                : "not recorded";
            string custom = graph.CustomOps is { Count: > 0 } ops
                ? "; custom ops " + string.Join(", ", ops.Select(o => $"{o.Domain}.{o.OpType} (ONNX Runtime {o.MinOnnxRuntimeVersion})"))
                : "";
            stdout.WriteLine($"  {graph.File}: op domains {domains}{custom}");
        }
    }

    // "fp32", or e.g. "int4 (head fp32, block 32, int8 compute, zero points, searched scales; layout int4-accurate)".
    private static string Precision(RwkvManifest m)
    {
        var details = new List<string>();
        if (m.HeadDType is { } head && head != m.WeightDType)
        {
            details.Add($"head {head}");
        }
        if (m.BlockSize is not null)
        {
            details.Add(ExportCommand.LayoutSummary(m));
        }
        return details.Count == 0 ? m.WeightDType : $"{m.WeightDType} ({string.Join(", ", details)})";
    }

    private static void Write(TextWriter stdout, string title, RwkvArchitectureInfo a, string dtype, IReadOnlyList<RwkvStateTensorInfo> state)
    {
        long stateBytes = state.Sum(s => s.Shape.Aggregate(4L, (bytes, d) => bytes * d));
        var c = CultureInfo.InvariantCulture;
        stdout.WriteLine(title);
        stdout.WriteLine($"  version RWKV-{a.Version}{(a.Variant is { } variant ? $", variant {variant}" : "")}");
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
