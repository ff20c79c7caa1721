using System.CommandLine;
using System.Globalization;
using Rwkv.Onnx.Tokenization;

namespace Rwkv.Onnx.Cli.Commands;

/// <summary>
/// <c>rwkv-onnx tokenize &lt;model-dir|world|neox|bytes|tokenizer-file&gt; --text "..." [--json]</c>: prints the token ids of the text,
/// space-separated, or with <c>--json</c> as a bare JSON array, so the tokenization can be compared with another
/// implementation.
/// </summary>
internal static class TokenizeCommand
{
    public static Command Create()
    {
        var source = new Argument<string>("source")
        {
            Description = "An exported model directory (its manifest's tokenizer), a built-in tokenizer (world, neox, bytes), " +
                "a World vocabulary .txt or a Hugging Face tokenizer.json.",
        };
        var text = new Option<string>("--text", "-t") { Description = "The text to tokenize.", Required = true };
        var json = new Option<bool>("--json") { Description = "Print a bare JSON array of ids." };

        var command = new Command("tokenize", "Print the token ids of a text.") { source, text, json };
        command.SetAction(parsed =>
        {
            TextWriter stdout = parsed.InvocationConfiguration.Output;
            string path = parsed.GetRequiredValue(source);
            ByteLevelTokenizer tokenizer = TokenizerChoice.Load(path);
            IReadOnlyList<int> ids = tokenizer.EncodeToIds(parsed.GetRequiredValue(text));
            string separator = parsed.GetValue(json) ? "," : " ";
            string list = string.Join(separator, ids.Select(id => id.ToString(CultureInfo.InvariantCulture)));
            stdout.WriteLine(parsed.GetValue(json) ? $"[{list}]" : list);
            return ExitCodes.Success;
        });
        return command;
    }
}
