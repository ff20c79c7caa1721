using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Rwkv.Onnx.Cli.Bench;
using Spectre.Console;

namespace Rwkv.Onnx.Cli.Commands;

/// <summary>
/// <c>rwkv-onnx bench &lt;dir&gt; [--providers cpu] [--batch 1,4] [--prefill 512] [--decode 128] [--threads N] [--repeat K]
/// [--json out.json] [--markdown out.md] [--chart out.png|svg]</c>, and <c>rwkv-onnx bench compare a.json b.json ...
/// [--markdown out.md] [--chart out.png|svg]</c>. The Markdown table always goes to stdout too.
/// </summary>
internal static class BenchCommand
{
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
            .InRange(NumericRange.AtLeast(1));
        var (json, markdown, chart) = OutputOptions();

        var command = new Command("bench", "Benchmark an exported model: prefill and decode speed, latency, memory, and the roofline against measured memory bandwidth.")
        {
            directory, providers, batches, prefill, decode, threads, repeat, bandwidthMiB, json, markdown, chart, CreateCompare(),
        };
        command.SetAction(parsed =>
        {
            var plan = new BenchPlan(
                ModelDirectory.Require(parsed.GetRequiredValue(directory)), ParseProviders(parsed.GetRequiredValue(providers)), ParseBatches(parsed.GetRequiredValue(batches)),
                parsed.GetValue(prefill), parsed.GetValue(decode), parsed.GetValue(threads), parsed.GetValue(repeat),
                (long)parsed.GetValue(bandwidthMiB) << 20);
            if (!Directory.Exists(plan.ModelDirectory))
            {
                throw new DirectoryNotFoundException($"Model directory '{plan.ModelDirectory}' does not exist.");
            }
            TextWriter stderr = parsed.InvocationConfiguration.Error;
            BenchReport report = WithProgress(stderr, progress => BenchRunner.Run(plan, progress));
            if (parsed.GetValue(json) is string jsonPath)
            {
                File.WriteAllText(jsonPath, report.ToJson());
            }
            WriteOutputs(parsed, [report], markdown, chart);
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
            var reports = parsed.GetRequiredValue(files).Select(BenchReport.Load).ToList();
            WriteOutputs(parsed, reports, markdown, chart);
            return ExitCodes.Success;
        });
        return compare;
    }

    private static (Option<string?> Json, Option<string?> Markdown, Option<string?> Chart) OutputOptions() => (
        new Option<string?>("--json") { Description = "Write the results as JSON (schema rwkv-onnx-bench/1, see BENCHMARKS.md)." },
        new Option<string?>("--markdown") { Description = "Write the Markdown table to this file." },
        new Option<string?>("--chart") { Description = "Write a bar chart; .svg for SVG, otherwise PNG." });

    private static void WriteOutputs(ParseResult parsed, IReadOnlyList<BenchReport> reports, Option<string?> markdown, Option<string?> chart)
    {
        string table = BenchTables.Markdown(reports);
        parsed.InvocationConfiguration.Output.Write(table);
        if (parsed.GetValue(markdown) is string markdownPath)
        {
            File.WriteAllText(markdownPath, table);
        }
        if (parsed.GetValue(chart) is string chartPath)
        {
            BenchTables.Chart(reports, chartPath);
        }
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

    /// <summary>Spectre.Console progress bars on a terminal; otherwise one plain stderr line per stage.</summary>
    private static T WithProgress<T>(TextWriter stderr, Func<IProgress<(string Stage, int Done, int Total)>, T> work)
    {
        bool terminal = ReferenceEquals(stderr, Console.Error) && !Console.IsErrorRedirected;
        if (!terminal)
        {
            return work(new PlainLines(stderr));
        }
        IAnsiConsole console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(stderr) });
        return console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .Start(context => work(new Bars(context)));
    }

    private sealed class PlainLines(TextWriter stderr) : IProgress<(string Stage, int Done, int Total)>
    {
        public void Report((string Stage, int Done, int Total) value) => stderr.WriteLine($"bench: {value.Stage} ({value.Done}/{value.Total})");
    }

    // One bar per configuration (the text before ':'), its description showing the current step.
    private sealed class Bars(ProgressContext context) : IProgress<(string Stage, int Done, int Total)>
    {
        private readonly Dictionary<string, ProgressTask> _tasks = [];

        public void Report((string Stage, int Done, int Total) value)
        {
            string key = value.Stage.Split(':')[0];
            if (!_tasks.TryGetValue(key, out ProgressTask? task))
            {
                task = context.AddTask(Markup.Escape(value.Stage), maxValue: Math.Max(1, value.Total));
                _tasks.Add(key, task);
            }
            task.Description = Markup.Escape(value.Stage);
            task.MaxValue = Math.Max(1, value.Total);
            task.Value = value.Done;
        }
    }
}
