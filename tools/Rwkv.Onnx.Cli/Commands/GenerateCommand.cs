using System.CommandLine;
using System.Globalization;
using Rwkv.Onnx.Generation;
using Rwkv.Onnx.Sampling;
using Rwkv.Onnx.Tokenization;

namespace Rwkv.Onnx.Cli.Commands;

/// <summary>
/// <c>rwkv-onnx generate &lt;dir&gt; --prompt "..." [--max-tokens 100] [--temperature 1.0] [--top-p 0.85] [--top-k 0] [--seed S]</c>:
/// streams generated text to stdout and prints prefill and decode speed to stderr.
/// </summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var directory = new Argument<string>("dir") { Description = "An exported model directory." };
        var prompt = new Option<string>("--prompt", "-p") { Description = "The prompt text.", Required = true };
        var maxTokens = new Option<int>("--max-tokens", "-n") { Description = "Tokens to generate.", DefaultValueFactory = _ => GenerationOptions.DefaultMaxTokens };
        maxTokens.Validators.Add(result => ModelLoadOptions.RequireAtLeast(result, "--max-tokens", 0));
        var temperature = new Option<float>("--temperature") { Description = "Sampling temperature; 0 is greedy.", DefaultValueFactory = _ => 1.0f };
        temperature.Validators.Add(result =>
        {
            float value = result.GetValueOrDefault<float>();
            if (!float.IsFinite(value) || value < 0)
            {
                result.AddError($"--temperature: {value.ToString(CultureInfo.InvariantCulture)} is out of range; it must be 0 or more.");
            }
        });
        var topP = new Option<float>("--top-p") { Description = "Nucleus probability mass, in (0, 1].", DefaultValueFactory = _ => 0.85f };
        topP.Validators.Add(result =>
        {
            float value = result.GetValueOrDefault<float>();
            if (!(value > 0 && value <= 1))
            {
                result.AddError($"--top-p: {value.ToString(CultureInfo.InvariantCulture)} is out of range; it must be greater than 0 and at most 1.");
            }
        });
        var topK = new Option<int>("--top-k") { Description = "Keep only the k most likely tokens; 0 keeps all.", DefaultValueFactory = _ => 0 };
        topK.Validators.Add(result => ModelLoadOptions.RequireAtLeast(result, "--top-k", 0));
        var seed = new Option<int?>("--seed") { Description = "Random seed, for reproducible output." };
        var load = new ModelLoadOptions();

        var command = new Command("generate", "Generate text from a prompt, streaming it to stdout; prints tokens/s to stderr.")
        {
            directory, prompt, maxTokens, temperature, topP, topK, seed,
        };
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
            var options = new GenerationOptions
            {
                MaxTokens = parsed.GetValue(maxTokens),
                Sampler = new TopPSampler
                {
                    Temperature = parsed.GetValue(temperature),
                    TopP = parsed.GetValue(topP),
                    TopK = parsed.GetValue(topK),
                    Seed = parsed.GetValue(seed),
                },
            };

            using RwkvModel model = RwkvModel.Load(parsed.GetRequiredValue(directory), load.Read(parsed));
            var generator = new TextGenerator(model, RwkvTokenizers.Load(model));
            GenerationResult result = generator.Generate(text, options, piece =>
            {
                stdout.Write(piece);
                stdout.Flush();
            });
            stdout.WriteLine();
            stderr.WriteLine(FormatTimings(result));
            return ExitCodes.Success;
        });
        return command;
    }

    internal static string FormatTimings(GenerationResult r) => string.Create(CultureInfo.InvariantCulture,
        $"prefill: {r.PromptTokenCount} tokens in {r.PrefillTime.TotalMilliseconds:F1} ms ({r.PrefillTokensPerSecond:F1} tok/s); " +
        $"decode: {r.GeneratedTokenCount} tokens in {r.DecodeTime.TotalMilliseconds:F1} ms ({r.DecodeTokensPerSecond:F1} tok/s)");
}
