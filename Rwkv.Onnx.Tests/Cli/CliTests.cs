using System.Text.RegularExpressions;
using Rwkv.Onnx.Cli;
using Rwkv.Onnx.Export;
using Rwkv.Onnx.Generation;
using Rwkv.Onnx.Sampling;
using Rwkv.Onnx.Tests.Fixtures;
using Rwkv.Onnx.Tokenization;

namespace Rwkv.Onnx.Tests.Cli;

/// <summary>Runs <c>rwkv-onnx</c> in process through <see cref="Rwkv.Onnx.Cli.Cli.Run"/> on the tiny RWKV-7 fixture.</summary>
[TestFixture]
public sealed partial class CliTests
{
    private const string Model = "7v0-834K";

    private string _root = "";
    private string _model = "";   // exported once for the fixture, through the library
    private string _work = "";    // per test

    private sealed record CliRun(int ExitCode, string Stdout, string Stderr);

    private static CliRun Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int exitCode = Rwkv.Onnx.Cli.Cli.Run(args, stdout, stderr);
        return new CliRun(exitCode, stdout.ToString(), stderr.ToString());
    }

    [OneTimeSetUp]
    public void ExportModel()
    {
        _root = Directory.CreateTempSubdirectory("rwkv-cli-tests-").FullName;
        _model = Path.Combine(_root, "tiny-rwkv-7");
        RwkvExporter.Export(SharedFixtures.RwkvCppModel(Model, "FP32"), _model, new ExportOptions());
    }

    [OneTimeTearDown]
    public void DeleteModel() => Directory.Delete(_root, recursive: true);

    [SetUp]
    public void SetUp() => _work = Directory.CreateDirectory(Path.Combine(_root, Guid.NewGuid().ToString("N"))).FullName;

    private static float[] RuntimeLogits(string modelDirectory, int[] tokens, bool all, RwkvForwardMode mode)
    {
        using RwkvModel model = RwkvModel.Load(modelDirectory);
        using RwkvState state = model.CreateState();
        using RwkvRunner runner = model.CreateRunner();
        float[] logits = new float[(all ? tokens.Length : 1) * model.VocabSize];
        if (all)
        {
            runner.ForwardAll(tokens, state, logits, mode);
        }
        else
        {
            runner.Forward(tokens, state, logits, mode);
        }
        return logits;
    }

    // ---- export ----

    [Test]
    public void Export_TinyRwkv7_WritesModelDirectoryAndPrintsSummary()
    {
        string output = Path.Combine(_work, "model");
        CliRun run = Run("export", SharedFixtures.RwkvCppModel(Model, "FP32"), "-o", output, "--dtype", "fp16");
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.Zero, run.Stderr);
            Assert.That(run.Stdout, Does.Contain("RWKV-7").And.Contain("layers 12, width 64, heads 1 x 64, vocab 256"));
            Assert.That(run.Stdout, Does.Contain("weights fp16"));
            Assert.That(run.Stdout, Does.Contain(RwkvContract.StepGraphFile).And.Contain(RwkvContract.PrefillGraphFile).And.Contain(RwkvContract.WeightsFile));
            Assert.That(run.Stderr, Does.Contain("export: weights").And.Contain("export: prefill graph 1/1"), "plain progress lines when stderr is not a terminal");
            Assert.That(RwkvManifest.Load(output).WeightDType, Is.EqualTo("fp16"));
        });
    }

    [Test]
    public void Export_MissingCheckpoint_FailsNamingItAndLeavesNothing()
    {
        string output = Path.Combine(_work, "model");
        string checkpoint = Path.Combine(_work, "no-such-model.bin");
        CliRun run = Run("export", checkpoint, "-o", output);
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(1));
            Assert.That(run.Stderr, Does.StartWith("error: ").And.Contain("no-such-model.bin"));
            Assert.That(run.Stderr, Does.Not.Contain("   at "), "no stack trace");
            Assert.That(Directory.GetFileSystemEntries(_work), Is.Empty);
        });
    }

    [Test]
    public void Export_ExistingEarlierExport_NeedsForce_AndAnEmptyDirectoryDoesNot()
    {
        string output = Directory.CreateDirectory(Path.Combine(_work, "model")).FullName;
        CliRun intoEmpty = Run("export", SharedFixtures.RwkvCppModel(Model, "FP32"), "-o", output, "--dtype", "fp16");
        Assert.That(intoEmpty.ExitCode, Is.Zero, intoEmpty.Stderr);

        CliRun refused = Run("export", SharedFixtures.RwkvCppModel(Model, "FP32"), "-o", output);
        Assert.Multiple(() =>
        {
            Assert.That(refused.ExitCode, Is.EqualTo(2));
            Assert.That(refused.Stderr, Does.Contain("--output").And.Contain("--force"));
            Assert.That(RwkvManifest.Load(output).WeightDType, Is.EqualTo("fp16"), "the existing export is untouched");
        });

        CliRun forced = Run("export", SharedFixtures.RwkvCppModel(Model, "FP32"), "-o", output, "--force");
        Assert.Multiple(() =>
        {
            Assert.That(forced.ExitCode, Is.Zero, forced.Stderr);
            Assert.That(RwkvManifest.Load(output).WeightDType, Is.EqualTo("fp32"));
            Assert.That(Directory.GetFileSystemEntries(_work).Select(Path.GetFileName), Is.EqualTo(new[] { "model" }));
        });
    }

    [Test]
    public void Export_UnknownDType_IsAUsageErrorNamingTheOption()
    {
        CliRun run = Run("export", SharedFixtures.RwkvCppModel(Model, "FP32"), "-o", Path.Combine(_work, "model"), "--dtype", "int3");
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(2));
            Assert.That(run.Stderr, Does.StartWith("error: --dtype: 'int3'"));
            Assert.That(Directory.GetFileSystemEntries(_work), Is.Empty);
        });
    }

    // ---- logits ----

    [TestCase("step")]
    [TestCase("prefill")]
    public void Logits_LastToken_EqualsRuntimeAndRwkvCppLogits(string mode)
    {
        string output = Path.Combine(_work, "logits.npy");
        CliRun run = Run("logits", _model, "--tokens", "34,105,110", "--mode", mode, "--out", output);
        Assert.That(run.ExitCode, Is.Zero, run.Stderr);

        NpyArray npy = NpyReader.Read(output);
        float[] runtime = RuntimeLogits(_model, [34, 105, 110], all: false, mode == "step" ? RwkvForwardMode.Step : RwkvForwardMode.Prefill);
        Assert.Multiple(() =>
        {
            Assert.That(npy.Shape, Is.EqualTo(new[] { 256 }));
            Assert.That(npy.Data, Is.EqualTo(runtime));
            // Independent of our code: the logits rwkv.cpp computed for the same prompt.
            Assert.That(npy.Data, Is.EqualTo(SharedFixtures.ExpectedLogits(Model)).Within(1e-4f));
            Assert.That(run.Stdout, Does.Contain("[256]"));
        });
    }

    [TestCase("step")]
    [TestCase("prefill")]
    public void Logits_StateOnDevice_EqualsTheHostPath(string mode)
    {
        string output = Path.Combine(_work, "device.npy");
        CliRun run = Run("logits", _model, "--tokens", "34,105,110,32", "--mode", mode, "--state-location", "device", "--out", output);
        Assert.That(run.ExitCode, Is.Zero, run.Stderr);

        float[] host = RuntimeLogits(_model, [34, 105, 110, 32], all: false, mode == "step" ? RwkvForwardMode.Step : RwkvForwardMode.Prefill);
        Assert.That(NpyReader.Read(output).Data, Is.EqualTo(host));
    }

    [Test]
    public void Logits_All_WritesOneRowPerToken()
    {
        int[] tokens = [34, 105, 110, 32, 116, 104, 101];
        string output = Path.Combine(_work, "all.npy");
        CliRun run = Run("logits", _model, "--tokens", string.Join(',', tokens), "--all", "--chunk", "3", "--out", output);
        Assert.That(run.ExitCode, Is.Zero, run.Stderr);

        NpyArray npy = NpyReader.Read(output);
        float[] stepwise = RuntimeLogits(_model, tokens, all: true, RwkvForwardMode.Step);
        Assert.Multiple(() =>
        {
            Assert.That(npy.Shape, Is.EqualTo(new[] { tokens.Length, 256 }));
            Assert.That(npy.Data, Is.EqualTo(stepwise).Within(1e-4f), "chunked prefill (3+3+1) agrees with stepping");
            Assert.That(npy.Data.AsSpan(2 * 256, 256).ToArray(), Is.EqualTo(SharedFixtures.ExpectedLogits(Model)).Within(1e-4f),
                "row 2 is the logits after '\"in'");
        });
    }

    [Test]
    public void Logits_TokenOutsideVocabulary_IsAUsageErrorAndWritesNothing()
    {
        string output = Path.Combine(_work, "bad.npy");
        CliRun run = Run("logits", _model, "--tokens", "34,999", "--out", output);
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(2));
            Assert.That(run.Stderr, Does.StartWith("error: --tokens:").And.Contain("999").And.Contain("256"));
            Assert.That(Directory.GetFileSystemEntries(_work), Is.Empty);
        });
    }

    [TestCase("1,x", "'x'")]
    [TestCase("1,,2", "item 2")]
    [TestCase("-3", "'-3'")]
    public void Logits_MalformedTokenList_IsAUsageErrorNamingTheOption(string tokens, string detail)
    {
        CliRun run = Run("logits", _model, "--tokens", tokens, "--out", Path.Combine(_work, "bad.npy"));
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(2));
            Assert.That(run.Stderr, Does.StartWith("error: --tokens:").And.Contain(detail));
            Assert.That(Directory.GetFileSystemEntries(_work), Is.Empty);
        });
    }

    [Test]
    public void Logits_UnknownMode_IsAUsageErrorNamingTheOption()
    {
        CliRun run = Run("logits", _model, "--tokens", "1,2", "--mode", "fast", "--out", Path.Combine(_work, "bad.npy"));
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(2));
            Assert.That(run.Stderr, Does.StartWith("error: --mode: 'fast'").And.Contain("step or prefill"));
            Assert.That(Directory.GetFileSystemEntries(_work), Is.Empty);
        });
    }

    [Test]
    public void Logits_MissingModelDirectory_FailsNamingItAndWritesNothing()
    {
        string missing = Path.Combine(_work, "no-model");
        CliRun run = Run("logits", missing, "--tokens", "1", "--out", Path.Combine(_work, "x.npy"));
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(1));
            Assert.That(run.Stderr, Does.StartWith("error: ").And.Contain("no-model"));
            Assert.That(run.Stderr.TrimEnd().Split('\n'), Has.Length.EqualTo(1), "one line, no stack trace");
            Assert.That(Directory.GetFileSystemEntries(_work), Is.Empty);
        });
    }

    [Test]
    public void Logits_MissingRequiredOption_IsAUsageError()
    {
        CliRun run = Run("logits", _model, "--tokens", "1");
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(2));
            Assert.That(run.Stderr, Does.Contain("--out"));
        });
    }

    // ---- generate ----

    [Test]
    public void Generate_Greedy_StreamsTheGeneratorsTextAndReportsSpeed()
    {
        CliRun run = Run("generate", _model, "--prompt", "In the beginning", "--max-tokens", "40", "--temperature", "0");

        string expected;
        using (RwkvModel model = RwkvModel.Load(_model))
        {
            expected = new TextGenerator(model, ByteTokenizer.Create())
                .Generate("In the beginning", new GenerationOptions { MaxTokens = 40, Sampling = SamplingSettings.Greedy }).Text;
        }
        Match timings = TimingsLine().Match(run.Stderr);
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.Zero, run.Stderr);
            Assert.That(run.Stdout, Is.EqualTo(expected + Environment.NewLine));
            Assert.That(expected, Is.Not.Empty);
            Assert.That(timings.Success, Is.True, run.Stderr);
            Assert.That(timings.Groups["prompt"].Value, Is.EqualTo("16"));
            Assert.That(timings.Groups["generated"].Value, Is.EqualTo("40"));
        });
    }

    [Test]
    public void Generate_SameSeed_SameText_OtherSeed_OtherText()
    {
        string[] args = ["generate", _model, "--prompt", "The", "--max-tokens", "64", "--temperature", "1.5", "--top-p", "1"];
        CliRun a = Run([.. args, "--seed", "7"]);
        CliRun b = Run([.. args, "--seed", "7"]);
        CliRun c = Run([.. args, "--seed", "8"]);
        Assert.Multiple(() =>
        {
            Assert.That(a.ExitCode, Is.Zero, a.Stderr);
            Assert.That(b.Stdout, Is.EqualTo(a.Stdout));
            Assert.That(c.Stdout, Is.Not.EqualTo(a.Stdout));
        });
    }

    [TestCase("--top-p", "0")]
    [TestCase("--temperature", "-1")]
    [TestCase("--max-tokens", "-5")]
    [TestCase("--provider", "tpu")]
    [TestCase("--threads", "-2")]
    [TestCase("--state-location", "gpu")]
    public void Generate_OutOfRangeOption_IsAUsageErrorNamingIt(string option, string value)
    {
        CliRun run = Run("generate", _model, "--prompt", "x", option, value);
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(2));
            Assert.That(run.Stderr, Does.StartWith($"error: {option}:"));
        });
    }

    [Test]
    public void Generate_UnavailableProvider_FailsWithOneLine()
    {
        // The default (CPU) build has no CUDA provider; a CUDA build on a machine without a GPU fails to start it.
        CliRun run = Run("generate", _model, "--prompt", "x", "--max-tokens", "1", "--provider", "cuda");
        Assume.That(run.ExitCode, Is.Not.Zero, "this machine runs CUDA");
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(1));
            Assert.That(run.Stderr, Does.StartWith("error: ").And.Contain("CUDA"));
        });
    }

    // ---- the command line as a whole ----

    [Test]
    public void NoCommand_IsAUsageError()
    {
        CliRun run = Run();
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(2));
            Assert.That(run.Stderr, Does.StartWith("error: "));
        });
    }

    [Test]
    public void Help_ListsTheCommandsAndSucceeds()
    {
        CliRun run = Run("--help");
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.Zero);
            Assert.That(run.Stdout, Does.Contain("export").And.Contain("logits").And.Contain("generate"));
        });
    }

    [GeneratedRegex(@"^prefill: (?<prompt>\d+) tokens in [0-9.]+ ms \([0-9.]+ tok/s\); decode: (?<generated>\d+) tokens in [0-9.]+ ms \([0-9.]+ tok/s\)\s*$", RegexOptions.Multiline)]
    private static partial Regex TimingsLine();
}
