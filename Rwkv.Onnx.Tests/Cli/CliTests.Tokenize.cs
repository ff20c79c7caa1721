using System.Text.Json;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Cli;

public sealed partial class CliTests
{
    // ---- tokenize ----

    [Test]
    public void Tokenize_WorldVocabularyJson_PrintsABareJsonArray()
    {
        // 33155 'Hello' 5 | 40213 ' world' 6 (see RwkvWorldTokenizerTests for the derivation).
        CliRun run = Run("tokenize", SharedFixtures.Tokenizer("rwkv_vocab_v20230424.txt"), "--text", "Hello world", "--json");
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.Zero, run.Stderr);
            Assert.That(run.Stdout.TrimEnd(), Is.EqualTo("[33155,40213]"));
            Assert.That(JsonSerializer.Deserialize<int[]>(run.Stdout), Is.EqualTo(new[] { 33155, 40213 }));
        });
    }

    [Test]
    public void Tokenize_NeoXTokenizerJson_PrintsSpaceSeparatedIds()
    {
        CliRun run = Run("tokenize", SharedFixtures.Tokenizer("20B_tokenizer.json"), "--text", "a   b");
        Assert.That((run.ExitCode, run.Stdout), Is.EqualTo((0, "66 50275 67" + Environment.NewLine)), run.Stderr);
    }

    [Test]
    public void Tokenize_ModelDirectory_UsesItsManifestTokenizer()
    {
        CliRun run = Run("tokenize", _model, "--text", "\"in", "--json");
        Assert.That((run.ExitCode, run.Stdout.TrimEnd()), Is.EqualTo((0, "[34,105,110]")), run.Stderr);
    }

    [Test]
    public void Tokenize_NotATokenizer_FailsWithOneErrorLine()
    {
        string file = Path.Combine(_work, "notes.txt");
        File.WriteAllText(file, "hello\n");
        CliRun run = Run("tokenize", file, "--text", "x");
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(1));
            Assert.That(run.Stderr, Does.StartWith("error: ").And.Contain("notes.txt"));
        });
    }

    [Test]
    public void Tokenize_FileWithNulBytes_TokenizesEveryByte()
    {
        string file = Path.Combine(_work, "nul.txt");
        File.WriteAllBytes(file, [(byte)'a', 0, (byte)'b', 0]);
        CliRun bytes = Run("tokenize", _model, "--file", file);
        File.WriteAllBytes(file, [.. "Hello"u8, 0]);
        // 33155 'Hello' (as above), 1 '\x00': the World vocabulary's first line.
        CliRun world = Run("tokenize", SharedFixtures.Tokenizer("rwkv_vocab_v20230424.txt"), "-f", file, "--json");
        Assert.Multiple(() =>
        {
            Assert.That((bytes.ExitCode, bytes.Stdout), Is.EqualTo((0, "97 0 98 0" + Environment.NewLine)), bytes.Stderr);
            Assert.That((world.ExitCode, world.Stdout.TrimEnd()), Is.EqualTo((0, "[33155,1]")), world.Stderr);
        });
    }

    [Test]
    public void Tokenize_MultiMegabyteFile_TokenizesAllOfIt()
    {
        // 2 MiB of seeded ASCII, control characters and NUL included; the byte-level model's ids are the bytes.
        byte[] content = new byte[2 << 20];
        new Random(16).NextBytes(content);
        for (int i = 0; i < content.Length; i++)
        {
            content[i] &= 0x7f;
        }
        string file = Path.Combine(_work, "large.txt");
        File.WriteAllBytes(file, content);
        CliRun run = Run("tokenize", _model, "--file", file);
        Assert.That(run.ExitCode, Is.Zero, run.Stderr);
        // Compared as one string: NUnit's element-by-element comparison of millions of ids takes seconds.
        Assert.That(run.Stdout, Is.EqualTo(string.Join(' ', content) + Environment.NewLine));
    }

    [TestCase("--file", "-")]
    [TestCase(null, null)]
    public void Tokenize_StandardInput_IsReadExactly(string? option, string? value)
    {
        // A byte-order mark, a NUL and a CR LF: none is dropped or translated.
        byte[] input = [0xEF, 0xBB, 0xBF, (byte)'a', 0, (byte)'\r', (byte)'\n'];
        string[] args = option is null ? ["tokenize", _model] : ["tokenize", _model, option, value!];
        CliRun piped = RunWithInput(input, args);
        CliRun typed = RunWithInput(input, args, inputIsTerminal: true);
        Assert.Multiple(() =>
        {
            Assert.That((piped.ExitCode, piped.Stdout), Is.EqualTo((0, "239 187 191 97 0 13 10" + Environment.NewLine)), piped.Stderr);
            Assert.That(piped.Stderr, Is.Empty);
            Assert.That(typed.Stdout, Is.EqualTo(piped.Stdout));
            Assert.That(typed.Stderr, Does.Contain("standard input").And.Contain("Ctrl-D"), "a terminal is told where the text comes from");
        });
    }

    [Test]
    public void Tokenize_TextEscapes_AreReadAsGenerateReadsThem()
    {
        CliRun run = Run("tokenize", _model, "--text", @"a\x00\n\\");
        Assert.That((run.ExitCode, run.Stdout), Is.EqualTo((0, "97 0 10 92" + Environment.NewLine)), run.Stderr);
    }

    [TestCase(new byte[] { (byte)'a', (byte)'b', 0xFF, (byte)'c' }, "offset 2 (0xFF")]
    [TestCase(new byte[] { (byte)'a', 0xE2, 0x82 }, "offset 1 (0xE2")]
    public void Tokenize_InvalidUtf8File_FailsNamingTheFileAndOffset(byte[] content, string where)
    {
        string file = Path.Combine(_work, "latin1.txt");
        File.WriteAllBytes(file, content);
        CliRun run = Run("tokenize", _model, "--file", file);
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(1));
            Assert.That(run.Stderr, Does.StartWith($"error: --file '{file}' is not valid UTF-8").And.Contain(where));
            Assert.That(run.Stderr.TrimEnd(), Does.Not.Contain('\n'), "one line");
            Assert.That(run.Stdout, Is.Empty);
        });
    }

    [Test]
    public void Tokenize_TextAndFile_IsAUsageError()
    {
        CliRun run = RunWithInput([], ["tokenize", _model, "--text", "a", "--file", "-"]);
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(2));
            Assert.That(run.Stderr, Does.StartWith("error: --text and --file"));
        });
    }

    [Test]
    public void Tokenize_FileIsADirectoryOrMissing_FailsNamingIt()
    {
        CliRun directory = Run("tokenize", _model, "--file", _work);
        CliRun missing = Run("tokenize", _model, "--file", Path.Combine(_work, "absent.txt"));
        Assert.Multiple(() =>
        {
            Assert.That((directory.ExitCode, directory.Stderr.TrimEnd()), Is.EqualTo((1, $"error: --file: '{_work}' is a directory; expected a text file.")));
            Assert.That(missing.ExitCode, Is.EqualTo(1));
            Assert.That(missing.Stderr, Does.StartWith("error: ").And.Contain("absent.txt"));
        });
    }

    [Test]
    public void Export_WithTokenizer_CopiesItIntoTheModel()
    {
        string tokenizer = TinyTokenizers.WriteByteLevelBpeJson(Path.Combine(_work, "tok.json"));
        string output = Path.Combine(_work, "model");
        CliRun run = Run("export", SharedFixtures.RwkvCppModel(Model, "FP32"), "-o", output, "--tokenizer", tokenizer);
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.Zero, run.Stderr);
            Assert.That(run.Stdout, Does.Contain("tokenizer neox").And.Contain("tok.json"));
            Assert.That(RwkvManifest.Load(output).Tokenizer.File, Is.EqualTo("tok.json"));
        });
    }
}
