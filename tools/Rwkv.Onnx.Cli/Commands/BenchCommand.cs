using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Text;
using Rwkv.Onnx.Cli.Bench;
using Rwkv.Onnx.Cli.Output;

namespace Rwkv.Onnx.Cli.Commands;

/// <summary>
/// <c>rwkv-onnx bench &lt;dir&gt; [--providers cpu] [--batch 1,4] [--prefill 512] [--decode 128] [--threads N] [--repeat K]
/// [--json out.json] [--markdown out.md] [--chart out.png|svg]</c>, and <c>rwkv-onnx bench compare a.json b.json ...
/// [--markdown out.md] [--chart out.png|svg]</c>. The Markdown table always goes to stdout too.
/// </summary>
internal static class BenchCommand
{
    private const string JsonOption = "--json";
    private const string MarkdownOption = "--markdown";
    private const string ChartOption = "--chart";

    public static Command Create()
    {
        var directory = new Argument<string>("model") { Description = "The exported model directory." };
        var providers = new Option<string>("--providers") { Description = "Comma-separated execution providers: cpu, cuda, dml.", DefaultValueFactory = _ => "cpu", HelpName = "cpu,cuda,dml" };
        var batches = new Option<string>("--batch") { Description = "Comma-separated batch sizes.", DefaultValueFactory = _ => "1", HelpName = "1,4" };
        var prefill = new Option<int>("--prefill") { Description = "Prompt tokens per sequence.", DefaultValueFactory = _ => 512 }.InRange(NumericRange.AtLeast(1));
        var decode = new Option<int>("--decode") { Description = "Generated tokens per sequence.", DefaultValueFactory = _ => 128 }.InRange(NumericRange.AtLeast(1));
        var threads = new Option<int>("--threads") { Description = "Intra-op threads; 0 lets ONNX Runtime choose.", DefaultValueFactory = _ => 0 }.InRange(ModelLoadOptions.ThreadRange);
        var repeat = new Option<int>("--repeat") { Description = "Timed repeats after one warm-up; throughputs are medians.", DefaultValueFactory = _ => 3 }.InRange(NumericRange.AtLeast(1));
        var bandwidthMiB = new Option<int>("--bandwidth-buffer-mib") { Description = "Buffer of the memory-bandwidth test (must exceed the caches).", DefaultValueFactory = _ => (int)(MemoryBandwidth.DefaultBufferBytes >> 20) }
            .InRange(NumericRange.From(1, BenchLimits.MaxBandwidthBufferMiB)); // one float array
        var (json, markdown, chart) = OutputOptions();

        var command = new Command("bench", "Benchmark an exported model: prefill and decode speed, latency, memory, and the roofline against measured memory bandwidth.")
        {
            directory, providers, batches, prefill, decode, threads, repeat, bandwidthMiB, json, markdown, chart, CreateCompare(), ServeBenchCommand.Create(),
        };
        command.SetAction(parsed =>
        {
            // Everything that can be known wrong is checked before the first measurement, which may be an hour away from the last.
            OutputFiles outputs = OutputFiles.Check([(JsonOption, parsed.GetValue(json)), (MarkdownOption, parsed.GetValue(markdown)), (ChartOption, parsed.GetValue(chart))]);
            var plan = new BenchPlan(
                ModelDirectory.Require(parsed.GetRequiredValue(directory)), ParseProviders(parsed.GetRequiredValue(providers)), ParseBatches(parsed.GetRequiredValue(batches)),
                parsed.GetValue(prefill), parsed.GetValue(decode), parsed.GetValue(threads), parsed.GetValue(repeat),
                (long)parsed.GetValue(bandwidthMiB) << 20);
            if (!Directory.Exists(plan.ModelDirectory))
            {
                throw new DirectoryNotFoundException($"Model directory '{plan.ModelDirectory}' does not exist.");
            }
            BenchLimits.CheckPlan(plan);
            RwkvManifest manifest = RwkvManifest.Load(plan.ModelDirectory);
            BenchLimits.CheckModel(plan, manifest);
            BenchReport report = BenchProgress.Run(parsed.InvocationConfiguration.Error, progress => BenchRunner.Run(plan, manifest, progress));
            WriteOutputs(parsed, [report], outputs, () => Encoding.UTF8.GetBytes(report.ToJson()));
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command CreateCompare()
    {
        var files = new Argument<string[]>("reports") { Description = "Bench JSON reports to merge.", Arity = ArgumentArity.OneOrMore };
        var (_, markdown, chart) = OutputOptions();
        var compare = new Command("compare", "Merge bench JSON reports from several runs or machines into one table and chart.") { files, markdown, chart };
        compare.SetAction(parsed =>
        {
            OutputFiles outputs = OutputFiles.Check([(MarkdownOption, parsed.GetValue(markdown)), (ChartOption, parsed.GetValue(chart))]);
            var reports = parsed.GetRequiredValue(files).Select(BenchReport.Load).ToList();
            WriteOutputs(parsed, reports, outputs, json: null);
            return ExitCodes.Success;
        });
        return compare;
    }

    private static (Option<string?> Json, Option<string?> Markdown, Option<string?> Chart) OutputOptions() => (
        new Option<string?>(JsonOption) { Description = "Write the results as JSON (schema rwkv-onnx-bench/1, see BENCHMARKS.md)." },
        new Option<string?>(MarkdownOption) { Description = "Write the Markdown table to this file." },
        new Option<string?>(ChartOption) { Description = "Write a bar chart (decode and prefill panels); .svg for SVG, otherwise PNG." });

    // The table goes to stdout first; then the files, all or none.
    private static void WriteOutputs(ParseResult parsed, IReadOnlyList<BenchReport> reports, OutputFiles outputs, Func<byte[]>? json)
    {
        string table = BenchTables.Markdown(reports);
        parsed.InvocationConfiguration.Output.Write(table);
        bool svg = string.Equals(Path.GetExtension(outputs.PathOf(ChartOption)), ".svg", StringComparison.OrdinalIgnoreCase);
        outputs.Write(
            (JsonOption, stream => stream.Write(json?.Invoke() ?? [])),
            (MarkdownOption, stream => stream.Write(Encoding.UTF8.GetBytes(table))),
            (ChartOption, stream => stream.Write(BenchChart.Render(reports, svg))));
    }

    private static RwkvExecutionProvider[] ParseProviders(string value) =>
        [.. value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(name => name.ToLowerInvariant() switch
        {
            "cpu" => RwkvExecutionProvider.Cpu,
            "cuda" => RwkvExecutionProvider.Cuda,
            "dml" or "directml" => RwkvExecutionProvider.DirectML,
            _ => throw new UsageException($"--providers: '{name}' is not an execution provider; expected cpu, cuda or dml."),
        })];

    private static int[] ParseBatches(string value) =>
        [.. value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(item =>
            int.TryParse(item, NumberStyles.None, CultureInfo.InvariantCulture, out int batch) && batch > 0
                ? batch
                : throw new UsageException($"--batch: '{item}' is not a positive batch size."))];
}
