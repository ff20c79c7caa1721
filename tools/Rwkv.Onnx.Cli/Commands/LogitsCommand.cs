using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Rwkv.Onnx.Cli.Npy;
using Rwkv.Onnx.Cli.Output;

namespace Rwkv.Onnx.Cli.Commands;

/// <summary>
/// <c>rwkv-onnx logits &lt;dir&gt; --tokens 34,105,110 [--mode step|prefill] [--all] [--chunk N] --out f.npy
/// [--allow-non-finite]</c>: feeds tokens from the initial state and writes float32 logits as <c>.npy</c>, <c>[vocab]</c>
/// for the last token or <c>[T, vocab]</c> with <c>--all</c>; a NaN or infinite logit is an error unless allowed.
/// </summary>
internal static class LogitsCommand
{
    public static Command Create()
    {
        var directory = new Argument<string>("dir") { Description = "An exported model directory." };
        var tokens = new Option<int[]>("--tokens")
        {
            Description = "Comma-separated token ids, fed from the initial state.",
            Required = true,
            CustomParser = ParseTokens,
            HelpName = "id,id,...",
        };
        var mode = new Option<Choice<RwkvForwardMode>>("--mode")
        {
            Description = "step: one token at a time through step.onnx; prefill: chunks through prefill.onnx; auto: step for one token, prefill otherwise.",
        }.OneOf(s_modes, RwkvForwardMode.Auto);
        var all = new Option<bool>("--all") { Description = "Write the logits after every token, shape [T, vocab], instead of the last token's [vocab]." };
        var chunk = new Option<int?>("--chunk") { Description = "Prefill chunk size in tokens (default 256); not with --mode step." }
            .InRange(NumericRange.AtLeast(1));
        var output = new Option<string>("--out") { Description = "The .npy file to write (float32).", Required = true, HelpName = "file.npy" };
        var allowNonFinite = new Option<bool>("--allow-non-finite")
        {
            Description = "Write NaN or infinite logits instead of failing on them (they mean corrupted weights or an overflow).",
        };
        var load = new ModelLoadOptions();

        var command = new Command("logits", "Run tokens through an exported model and write the logits as a NumPy .npy file.")
        {
            directory, tokens, mode, all, chunk, output, allowNonFinite,
        };
        load.AddTo(command);
        command.Validators.Add(result =>
        {
            if (OptionValues.IsGiven(result, chunk) && OptionValues.TryGet(result, mode, out Choice<RwkvForwardMode> chosen) && chosen.Value == RwkvForwardMode.Step)
            {
                result.AddError("--chunk: has no effect with --mode step, which feeds one token at a time; drop one of them.");
            }
        });
        command.SetAction(parsed =>
        {
            TextWriter stdout = parsed.InvocationConfiguration.Output;
            int[] ids = parsed.GetRequiredValue(tokens);
            string outPath = parsed.GetRequiredValue(output);
            RwkvForwardMode forwardMode = parsed.GetValue(mode);
            bool allPositions = parsed.GetValue(all);
            string modelDirectory = ModelDirectory.Require(parsed.GetRequiredValue(directory));
            // Checked before the run; the files of the model are never overwritten.
            OutputFiles outputs = OutputFiles.Check([("--out", outPath)], inputs: Directory.GetFiles(modelDirectory));

            // Non-finite logits fail the run, naming the position, before anything is written.
            using RwkvModel model = RwkvModel.Load(modelDirectory,
                load.Read(parsed, parsed.GetValue(chunk), checkFiniteLogits: !parsed.GetValue(allowNonFinite)));
            int vocab = model.VocabSize;
            for (int i = 0; i < ids.Length; i++)
            {
                if ((uint)ids[i] >= (uint)vocab)
                {
                    throw new UsageException($"--tokens: token id {ids[i]} at position {i + 1} is outside the model's vocabulary of {vocab} tokens (0 to {vocab - 1}).");
                }
            }

            using RwkvState state = model.CreateState();
            using RwkvRunner runner = model.CreateRunner();
            float[] logits = new float[(allPositions ? ids.Length : 1) * vocab];
            int[] shape = allPositions ? [ids.Length, vocab] : [vocab];
            if (allPositions)
            {
                runner.ForwardAll(ids, state, logits, forwardMode);
            }
            else
            {
                runner.Forward(ids, state, logits, forwardMode);
            }
            outputs.Write(("--out", stream => NpyWriter.Write(stream, logits, shape)));
            stdout.WriteLine($"wrote {outPath}: float32 [{string.Join(", ", shape)}] after {ids.Length} tokens ({FormatMode(forwardMode, ids.Length)})");
            return ExitCodes.Success;
        });
        return command;
    }

    private static string FormatMode(RwkvForwardMode mode, int count) => mode switch
    {
        RwkvForwardMode.Step => "step",
        RwkvForwardMode.Prefill => "prefill",
        _ => count == 1 ? "step" : "prefill",
    };

    private static int[] ParseTokens(ArgumentResult result)
    {
        string text = string.Join(",", result.Tokens.Select(t => t.Value));
        string[] parts = text.Split(',', StringSplitOptions.TrimEntries);
        var ids = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out ids[i]))
            {
                string what = parts[i].Length > 0 && parts[i].All(char.IsAsciiDigit) ? "is too large for a token id" : "is not a non-negative integer";
                result.AddError($"--tokens: '{text}' is not a comma-separated list of token ids: item {i + 1} ('{parts[i]}') {what}.");
                return [];
            }
        }
        return ids;
    }

    private static readonly Choices<RwkvForwardMode> s_modes =
        new("a forward mode", ("auto", RwkvForwardMode.Auto), ("step", RwkvForwardMode.Step), ("prefill", RwkvForwardMode.Prefill));
}
