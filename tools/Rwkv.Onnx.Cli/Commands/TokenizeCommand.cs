using System.Buffers;
using System.CommandLine;
using System.Globalization;
using System.Text.Unicode;
using Rwkv.Onnx.Tokenization;

namespace Rwkv.Onnx.Cli.Commands;

/// <summary>
/// <c>rwkv-onnx tokenize &lt;model-dir|world|neox|bytes|tokenizer-file&gt; [--text "..." | --file path|-] [--json]</c>: prints
/// the token ids of the text, space-separated, or with <c>--json</c> as a bare JSON array, so the tokenization can be
/// compared with another implementation. Without <c>--text</c> or <c>--file</c> the text is standard input.
/// </summary>
internal static class TokenizeCommand
{
    public static Command Create(CliConsole console)
    {
        var source = new Argument<string>("source")
        {
            Description = "An exported model directory (its manifest's tokenizer), a built-in tokenizer (world, neox, bytes), " +
                "a World vocabulary .txt or a Hugging Face tokenizer.json.",
        };
        var text = new Option<string?>("--text", "-t")
        {
            Description = "The text to tokenize; the escapes \\n, \\t, \\r, \\xHH and \\\\ (a backslash) are understood.",
        };
        var file = new Option<string?>("--file", "-f")
        {
            Description = "A UTF-8 text file to tokenize, read exactly; - for standard input (the default without --text).",
            HelpName = "path|-",
        };
        var json = new Option<bool>("--json") { Description = "Print a bare JSON array of ids." };

        var command = new Command("tokenize", "Print the token ids of a text (from --text, --file or standard input).") { source, text, file, json };
        command.SetAction(parsed =>
        {
            TextWriter stdout = parsed.InvocationConfiguration.Output;
            TextWriter stderr = parsed.InvocationConfiguration.Error;
            string? textValue = parsed.GetValue(text);
            string? fileValue = parsed.GetValue(file);
            if (textValue is not null && fileValue is not null)
            {
                throw new UsageException("--text and --file both give the text to tokenize; give one of them.");
            }
            string input = textValue is not null ? TextEscapes.Unescape(textValue, "--text") : "";

            string path = parsed.GetRequiredValue(source);
            ByteLevelTokenizer tokenizer = TokenizerChoice.Load(path);
            if (textValue is null)
            {
                input = fileValue is null or "-" ? ReadStandardInput(console, stderr) : ReadFile(fileValue);
            }
            IReadOnlyList<int> ids = tokenizer.EncodeToIds(input);
            string separator = parsed.GetValue(json) ? "," : " ";
            string list = string.Join(separator, ids.Select(id => id.ToString(CultureInfo.InvariantCulture)));
            stdout.WriteLine(parsed.GetValue(json) ? $"[{list}]" : list);
            return ExitCodes.Success;
        });
        return command;
    }

    private static string ReadStandardInput(CliConsole console, TextWriter stderr)
    {
        if (console.InputIsTerminal)
        {
            // Without --text or --file a bare `tokenize <model>` would otherwise seem to hang.
            stderr.WriteLine("tokenize: reading the text from standard input; end it with Ctrl-D.");
        }
        using Stream stdin = console.OpenInput();
        using var bytes = new MemoryStream();
        stdin.CopyTo(bytes);
        return DecodeUtf8(bytes.GetBuffer().AsSpan(0, (int)bytes.Length), "standard input");
    }

    private static string ReadFile(string path)
    {
        if (Directory.Exists(path))
        {
            throw new IOException($"--file: '{path}' is a directory; expected a text file.");
        }
        return DecodeUtf8(File.ReadAllBytes(path), $"--file '{path}'");
    }

    /// <summary>
    /// The text of <paramref name="bytes"/>, exactly: a byte-order mark is kept (as U+FEFF) and invalid UTF-8 is an
    /// error naming its offset, never replaced, so no byte is lost without notice.
    /// </summary>
    internal static string DecodeUtf8(ReadOnlySpan<byte> bytes, string source)
    {
        char[] chars = ArrayPool<char>.Shared.Rent(Math.Max(bytes.Length, 1));
        try
        {
            OperationStatus status = Utf8.ToUtf16(bytes, chars, out int read, out int written, replaceInvalidSequences: false);
            if (status != OperationStatus.Done)
            {
                throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                    $"{source} is not valid UTF-8: the bytes at offset {read} (0x{bytes[read]:X2}...) are not a character or are cut off; tokenize reads UTF-8 text."));
            }
            return new string(chars, 0, written);
        }
        finally
        {
            ArrayPool<char>.Shared.Return(chars);
        }
    }
}
