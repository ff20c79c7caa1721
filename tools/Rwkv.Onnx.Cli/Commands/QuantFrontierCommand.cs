using System.CommandLine;
using System.CommandLine.Parsing;
using System.Text.Json;
using Rwkv.Onnx.Cli.Quantization;
using Rwkv.Onnx.Export;

namespace Rwkv.Onnx.Cli.Commands;

/// <summary>
/// <c>rwkv-onnx quant-frontier &lt;checkpoint&gt; --work-dir &lt;dir&gt; [--entry E]... [--tokens N] [--text file] [--speed-rounds R]
/// [--decode-tokens N] [--batch B] [--threads T] [--reuse] [--markdown file] [--json file] [--chart file]</c>: the accuracy
/// (and optionally speed) of quantized layouts against the fp32 export of the same checkpoint, with the ggml formats
/// Q8_0/Q4_0/Q5_1 emulated on the same weights as references (ACCURACY.md, "Quantization frontier").
/// </summary>
internal static class QuantFrontierCommand
{
    private const int DefaultTokens = 128;

    private static readonly string[] s_defaultEntries = ["fp16", "q8_0", "q4_0", "q5_1", .. QuantLayout.Presets.Keys];

    public static Command Create()
    {
        var checkpoint = new Argument<string>("checkpoint") { Description = "The checkpoint to export in every layout." };
        var workDir = new Option<string>("--work-dir") { Description = "Directory for the exports (one subdirectory per entry; kept for reuse).", Required = true, HelpName = "dir" };
        var entries = new Option<FrontierEntry[]>("--entry")
        {
            Description = $"An export to measure: fp16, q8_0, q4_0, q5_1 (ggml formats emulated on float32 weights with rwkv.cpp's arithmetic: " +
                "8-bit activation blocks as its CPU kernels), q8_0-weights, q4_0-weights, q5_1-weights (the formats' weights alone), or an int8/int4 layout (preset or spec, as export --quant). " +
                $"Repeat for more. Default: {string.Join(", ", s_defaultEntries)}. fp32 is always measured, as the reference.",
            CustomParser = ParseEntries,
            HelpName = "E",
        };
        var tokens = new Option<int>("--tokens") { Description = $"Positions compared: seeded random tokens (seed 0), or the first N bytes of --text (default {DefaultTokens}).", DefaultValueFactory = _ => DefaultTokens }
            .InRange(NumericRange.From(2, 100_000));
        var text = new Option<string?>("--text") { Description = "A text file fed as bytes instead of random tokens (byte-level models only).", HelpName = "file" };
        var speedRounds = new Option<int>("--speed-rounds") { Description = "Interleaved decode-timing rounds (0: accuracy only).", DefaultValueFactory = _ => 0 }.InRange(NumericRange.From(0, 100));
        var decodeTokens = new Option<int>("--decode-tokens") { Description = "Timed decode steps per entry and round.", DefaultValueFactory = _ => 64 }.InRange(NumericRange.From(1, 100_000));
        var batch = new Option<int>("--batch") { Description = "Sequences per decode step.", DefaultValueFactory = _ => 1 }.InRange(NumericRange.From(1, 1024));
        var threads = new Option<int>("--threads") { Description = "Intra-op threads of the timed sessions; 0 lets ONNX Runtime choose.", DefaultValueFactory = _ => 0 }.InRange(ModelLoadOptions.ThreadRange);
        var reuse = new Option<bool>("--reuse") { Description = "Reuse an entry's export left in --work-dir by an earlier run instead of exporting it again." };
        var groupNormEps = GroupNormEpsilonOption.Create();
        var markdown = new Option<string?>("--markdown") { Description = "Write the table as Markdown to this file.", HelpName = "file" };
        var json = new Option<string?>("--json") { Description = "Write the report as JSON to this file.", HelpName = "file" };
        var chart = new Option<string?>("--chart") { Description = "Write a PNG chart of mean |Δlogit| against weights size (or decode speed, with --speed-rounds).", HelpName = "file.png" };
        var command = new Command("quant-frontier", "Measure the accuracy (and decode speed) of quantized layouts against fp32, with ggml Q8_0/Q4_0/Q5_1 emulated as references.")
        {
            checkpoint, workDir, entries, tokens, text, speedRounds, decodeTokens, batch, threads, reuse, groupNormEps, markdown, json, chart,
        };
        command.SetAction(parsed =>
        {
            TextWriter stdout = parsed.InvocationConfiguration.Output;
            TextWriter stderr = parsed.InvocationConfiguration.Error;
            string source = parsed.GetRequiredValue(checkpoint);
            if (!File.Exists(source) && !Directory.Exists(source))
            {
                throw new FileNotFoundException($"checkpoint: '{source}' does not exist.", source);
            }
            string work = parsed.GetRequiredValue(workDir);
            Directory.CreateDirectory(work);
            FrontierEntry[] chosen = parsed.GetValue(entries) is { Length: > 0 } given ? given : [.. s_defaultEntries.Select(FrontierEntry.Parse)];
            int vocab = RwkvExporter.Inspect(source).Architecture.Vocab;
            (int[] ids, string tokenSource) = Tokens(parsed.GetValue(text), parsed.GetValue(tokens), vocab);
            var runner = new FrontierRunner(source, work, parsed.GetValue(groupNormEps), parsed.GetValue(reuse), stderr);
            FrontierReport report = runner.Run(chosen, ids, tokenSource, parsed.GetValue(speedRounds), parsed.GetValue(decodeTokens), parsed.GetValue(threads), parsed.GetValue(batch));
            string table = report.ToMarkdown();
            stdout.Write(table);
            if (parsed.GetValue(markdown) is { } markdownPath)
            {
                File.WriteAllText(markdownPath, table);
            }
            if (parsed.GetValue(json) is { } jsonPath)
            {
                File.WriteAllText(jsonPath, JsonSerializer.Serialize(report, s_json));
            }
            if (parsed.GetValue(chart) is { } chartPath)
            {
                File.WriteAllBytes(chartPath, FrontierChart.Render(report));
            }
            return ExitCodes.Success;
        });
        return command;
    }

    private static readonly JsonSerializerOptions s_json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true };

    private static FrontierEntry[] ParseEntries(ArgumentResult result)
    {
        var parsed = new List<FrontierEntry>();
        foreach (Token token in result.Tokens)
        {
            try
            {
                parsed.Add(FrontierEntry.Parse(token.Value));
            }
            catch (FormatException e)
            {
                result.AddError($"--entry: '{token.Value}' is not fp16, q8_0, q4_0, q5_1, q8_0-weights, q4_0-weights, q5_1-weights or a quantization layout ({e.Message})");
            }
        }
        return [.. parsed];
    }

    private static (int[] Ids, string Source) Tokens(string? textPath, int count, int vocab)
    {
        if (textPath is null)
        {
            var random = new Random(0);
            return ([.. Enumerable.Range(0, count).Select(_ => random.Next(vocab))], "seeded random, seed 0");
        }
        if (vocab != 256)
        {
            throw new UsageException($"--text: the model has a vocabulary of {vocab} tokens; text is fed as bytes, which needs a byte-level model (256).");
        }
        if (!File.Exists(textPath))
        {
            throw new FileNotFoundException($"--text: '{textPath}' does not exist.", textPath);
        }
        byte[] bytes = File.ReadAllBytes(textPath);
        if (bytes.Length < 2)
        {
            throw new UsageException($"--text: '{textPath}' has {bytes.Length} byte(s); at least 2 are needed.");
        }
        return ([.. bytes.Take(count).Select(b => (int)b)], $"the first bytes of {Path.GetFileName(textPath)}");
    }
}
