using System.CommandLine;
using System.Globalization;
using Rwkv.Onnx.Generation;

using Rwkv.Onnx.Sampling;

namespace Rwkv.Onnx.Cli.Commands;

/// <summary>
/// <c>rwkv-onnx generate &lt;dir&gt; --prompt "..." [--max-tokens 100] [--stop text]... [--temperature 1.0] [--top-p 0.85] [--top-k 0]
/// [--min-p 0] [--presence-penalty 0] [--frequency-penalty 0] [--penalty-decay 0.996] [--seed S] [--state file]</c>:
/// streams generated text to stdout and prints prefill and decode speed to stderr.
/// </summary>
internal static class GenerateCommand
{
    public static Command Create(CliConsole console)
    {
        var directory = new Argument<string>("dir") { Description = "An exported model directory." };
        var prompt = new Option<string>("--prompt", "-p")
        {
            Description = "The prompt text; the escapes \\n, \\t, \\r, \\xHH and \\\\ (a backslash) are understood.",
            Required = true,
        };
        var maxTokens = new Option<int>("--max-tokens", "-n") { Description = "Tokens to generate.", DefaultValueFactory = _ => GenerationOptions.DefaultMaxTokens }
            .InRange(NumericRange.AtLeast(0));
        var stop = new Option<string[]>("--stop")
        {
            Description = "Stop when the text reaches this string (repeatable); the escapes of --prompt are understood.",
            AllowMultipleArgumentsPerToken = false,
        };
        var sampling = new SamplingCommandOptions(SamplingSettings.Completion);
        var state = new InitialStateOption();
        var load = new ModelLoadOptions();

        var command = new Command("generate", "Generate text from a prompt, streaming it to stdout; prints tokens/s to stderr.")
        {
            directory, prompt, maxTokens, stop,
        };
        sampling.AddTo(command);
        state.AddTo(command);
        load.AddTo(command);
        command.SetAction(parsed =>
        {
            TextWriter stdout = parsed.InvocationConfiguration.Output;
            TextWriter stderr = parsed.InvocationConfiguration.Error;
            string text = parsed.GetRequiredValue(prompt);
            if (text.Length == 0)
            {
                throw new UsageException("--prompt: the prompt is empty; give at least one character.");
            }
            text = TextEscapes.Unescape(text, "--prompt");
            var options = new GenerationOptions
            {
                MaxTokens = parsed.GetValue(maxTokens),
                Sampling = sampling.Read(parsed, stderr),
                StopStrings = [.. (parsed.GetValue(stop) ?? []).Select(value => TextEscapes.Unescape(value, "--stop"))],
            };

            state.Check(parsed);
            using TextGenerator generator = TextGenerator.Load(ModelDirectory.Require(parsed.GetRequiredValue(directory)), load.Read(parsed));
            using RwkvState? initial = state.Load(parsed, generator.Model);
            var output = new GeneratedTextWriter(stdout, escapeControls: console.OutputIsTerminal);
            GenerationResult result = initial is null
                ? generator.Generate(text, options, output.Write)
                : generator.Generate(text, initial, options, output.Write);
            output.EndLine();
            stderr.WriteLine(FormatTimings(result));
            return ExitCodes.Success;
        });
        return command;
    }

    internal static string FormatTimings(GenerationResult r) => string.Create(CultureInfo.InvariantCulture,
        $"prefill: {r.PromptTokenCount} tokens in {r.PrefillTime.TotalMilliseconds:F1} ms ({r.PrefillTokensPerSecond:F1} tok/s); " +
        $"decode: {r.GeneratedTokenCount} tokens in {r.DecodeTime.TotalMilliseconds:F1} ms ({r.DecodeTokensPerSecond:F1} tok/s)");
}
