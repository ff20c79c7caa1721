using System.Globalization;
using System.Text.RegularExpressions;
using Rwkv.Onnx.Generation;
using Rwkv.Onnx.Sampling;
using Rwkv.Onnx.Tokenization;

namespace Rwkv.Onnx.Tests.Cli;

public sealed partial class CliTests
{
    // ---- escapes in --prompt and --stop; control characters on a terminal ----

    [Test]
    public void Generate_PromptEscapes_AreReadAsStopEscapesAre()
    {
        CliRun escaped = Run("generate", _model, "--prompt", @"a\nb", "--max-tokens", "8", "--temperature", "0");
        CliRun literal = Run("generate", _model, "--prompt", "a\nb", "--max-tokens", "8", "--temperature", "0");
        CliRun backslash = Run("generate", _model, "--prompt", @"a\\nb", "--max-tokens", "8", "--temperature", "0");
        Assert.Multiple(() =>
        {
            Assert.That(escaped.ExitCode, Is.Zero, escaped.Stderr);
            Assert.That(escaped.Stderr, Does.StartWith("prefill: 3 tokens"), @"'a\nb' is a, line feed, b");
            Assert.That(escaped.Stdout, Is.EqualTo(literal.Stdout));
            Assert.That(backslash.Stderr, Does.StartWith("prefill: 4 tokens"), @"'a\\nb' is a, backslash, n, b");
        });
    }

    [Test]
    public void Generate_StopEscapeForAControlCharacter_StopsThere()
    {
        // The free text, sampled hot so that it holds control characters; then stop at the first one, given as \xHH.
        string[] args = ["generate", _model, "--prompt", "Once", "--max-tokens", "200", "--temperature", "4", "--seed", "1"];
        string text = Run(args).Stdout;
        int at = text.IndexOfAny([.. Enumerable.Range(1, 8).Select(c => (char)c)]);
        Assert.That(at, Is.GreaterThan(0), "the seeded hot sample holds one of \\x01..\\x08");
        string stop = string.Create(CultureInfo.InvariantCulture, $"\\x{(int)text[at]:x2}");
        CliRun stopped = Run([.. args, "--stop", stop]);
        Assert.That(stopped.Stdout, Is.EqualTo(text[..at] + Environment.NewLine), stopped.Stderr);
    }

    [TestCase("--prompt", @"tab\q", @"error: --prompt: '\q' at character 4 is not an escape")]
    [TestCase("--stop", @"x\", "error: --stop: the text ends with a lone backslash")]
    public void Generate_BadEscape_IsAUsageErrorNamingTheOption(string option, string value, string error)
    {
        string[] args = option == "--prompt" ? ["generate", _model, "--prompt", value] : ["generate", _model, "--prompt", "a", "--stop", value];
        CliRun run = Run(args);
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(2));
            Assert.That(run.Stderr, Does.StartWith(error));
            Assert.That(run.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries), Has.Length.EqualTo(1));
            Assert.That(run.Stdout, Is.Empty);
        });
    }

    [Test]
    public void Generate_ControlCharacters_AreEscapedOnATerminalAndExactOtherwise()
    {
        string[] args = ["generate", _model, "--prompt", "Once", "--max-tokens", "200", "--temperature", "4", "--seed", "1"];
        CliRun redirected = RunWithInput([], args, outputIsTerminal: false);
        CliRun terminal = RunWithInput([], args, outputIsTerminal: true);

        // The same generation through the library: what the redirected output must hold exactly.
        using RwkvModel model = RwkvModel.Load(_model);
        var generator = new TextGenerator(model, ByteTokenizer.Create());
        string text = generator.Generate("Once", new GenerationOptions
        {
            MaxTokens = 200,
            Sampling = new SamplingSettings { Temperature = 4, TopP = 0.85f, Seed = 1 },
        }).Text;
        // The terminal form, written independently of the CLI: C0 controls but line feed and tab, DEL and C1 as \xHH,
        // a carriage return as \r unless a line feed follows.
        string shown = Regex.Replace(text, "\r(?!\n)|[\0-\b\v\f\u000e-\u001f\u007f-\u009f]", m => m.Value == "\r"
            ? @"\r"
            : string.Create(CultureInfo.InvariantCulture, $"\\x{(int)m.Value[0]:x2}"));
        Assert.Multiple(() =>
        {
            Assert.That(text.Count(c => char.IsControl(c) && c is not ('\n' or '\t')), Is.GreaterThan(3), "the hot sample holds control characters");
            Assert.That(redirected.Stdout, Is.EqualTo(text + Environment.NewLine));
            Assert.That(terminal.Stdout, Is.EqualTo(shown + Environment.NewLine));
        });
    }
}
