using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Rwkv.Onnx.Export.RandomCheckpoints;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Cli;

/// <summary>
/// <c>rwkv-onnx export --target genai</c>: the directory onnxruntime-genai opens (Rwkv.Onnx.Genai.Tests runs it in genai),
/// its graph I/O as genai reads it, and the output rules of every export.
/// </summary>
public sealed partial class CliTests
{
    private static readonly string[] s_genaiFiles =
        ["genai_config.json", "prefill.onnx", "step.onnx", "tokenizer.json", "tokenizer_config.json", "weights.onnx.data"];

    // RWKV-4: shifts [2, C] and aa, bb, pp plus the started row [4, C]; RWKV-7: shifts [2, C] and the WKV matrices [H, N, N].
    [TestCase("4v0-660K", new long[] { -1, 2, 128 }, new long[] { -1, 4, 128 }, 4)]
    [TestCase("7v0-834K", new long[] { -1, 2, 64 }, new long[] { -1, 1, 64, 64 }, 12)]
    public void Export_TargetGenai_WritesGraphsWithGenaisIo(string model, long[] conv, long[] recurrent, int layers)
    {
        string output = Path.Combine(_work, "genai");
        CliRun run = Run("export", SharedFixtures.RwkvCppModel(model, "FP32"), "-o", output, "--target", "genai");
        Assert.That(run.ExitCode, Is.Zero, run.Stderr);
        Assert.That(Directory.GetFiles(output).Select(Path.GetFileName).Order(StringComparer.Ordinal), Is.EqualTo(s_genaiFiles));

        using JsonDocument config = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "genai_config.json")));
        JsonElement pipeline = config.RootElement.GetProperty("model").GetProperty("decoder").GetProperty("pipeline")[0];
        foreach ((string stage, string file, bool onPrompt) in new[] { ("prefill", "prefill.onnx", true), ("step", "step.onnx", false) })
        {
            JsonElement entry = pipeline.GetProperty(stage);
            using var session = new InferenceSession(Path.Combine(output, file));
            Assert.Multiple(() =>
            {
                Assert.That(entry.GetProperty("filename").GetString(), Is.EqualTo(file));
                Assert.That(entry.GetProperty("run_on_prompt").GetBoolean(), Is.EqualTo(onPrompt));
                Assert.That(entry.GetProperty("run_on_token_gen").GetBoolean(), Is.EqualTo(!onPrompt));
                Assert.That(entry.GetProperty("inputs").EnumerateArray().Select(i => i.GetString()), Is.EqualTo(session.InputNames));
                Assert.That(entry.GetProperty("outputs").EnumerateArray().Select(o => o.GetString()), Is.EqualTo(session.OutputNames));
                Assert.That(session.InputNames, Has.Count.EqualTo(1 + 2 * layers));
                Assert.That(session.InputMetadata["tokens"].Dimensions, Is.EqualTo(onPrompt ? new[] { -1, -1 } : new[] { -1, 1 }));
                Assert.That(session.OutputMetadata["logits"].Dimensions, Is.EqualTo(new[] { -1, 1, 256 }));
                for (int layer = 0; layer < layers; layer++)
                {
                    Assert.That(session.InputMetadata[$"past_key_values.{layer}.conv_state"].Dimensions.Select(d => (long)d), Is.EqualTo(conv));
                    Assert.That(session.InputMetadata[$"past_key_values.{layer}.recurrent_state"].Dimensions.Select(d => (long)d), Is.EqualTo(recurrent));
                    Assert.That(session.OutputMetadata[$"present.{layer}.conv_state"].Dimensions.Select(d => (long)d), Is.EqualTo(conv));
                    Assert.That(session.OutputMetadata[$"present.{layer}.recurrent_state"].Dimensions.Select(d => (long)d), Is.EqualTo(recurrent));
                }
            });
        }
        Assert.That(run.Stdout, Does.Contain("tokenizer bytes"));
    }

    [Test]
    public void Export_TargetGenai_ReplacesOnlyAnEarlierExportWithForce()
    {
        string output = Path.Combine(_work, "genai");
        string[] export = ["export", SharedFixtures.RwkvCppModel(Model, "FP32"), "-o", output, "--target", "genai"];
        Assert.That(Run(export).ExitCode, Is.Zero);
        CliRun again = Run(export);
        CliRun forced = Run([.. export, "--force"]);
        File.WriteAllText(Path.Combine(output, "notes.txt"), "mine");
        CliRun foreign = Run([.. export, "--force"]);
        Assert.Multiple(() =>
        {
            Assert.That(again.ExitCode, Is.EqualTo(2));
            Assert.That(again.Stderr, Does.StartWith("error: --output:").And.Contain("already holds an earlier export"));
            Assert.That(forced.ExitCode, Is.Zero, forced.Stderr);
            Assert.That(foreign.ExitCode, Is.EqualTo(2));
            Assert.That(foreign.Stderr, Does.StartWith("error: --output:").And.Contain("'notes.txt'"));
            Assert.That(File.Exists(Path.Combine(output, "notes.txt")), "the refused directory is left as it was");
        });
    }

    [Test]
    public void Export_TargetGenai_WorldVocabulary_HasNoTokenizerAndSaysSo()
    {
        string checkpoint = Path.Combine(_work, "world.bin");
        RwkvRandomCheckpoint.Write(checkpoint, "4", layers: 1, embd: 16, headSize: 16, vocab: 65536, ffn: 32, seed: 3);
        string output = Path.Combine(_work, "genai");
        CliRun run = Run("export", checkpoint, "-o", output, "--target", "genai");
        using JsonDocument config = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "genai_config.json")));
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.Zero, run.Stderr);
            Assert.That(run.Stderr, Does.Contain("note:").And.Contain("has no tokenizer.json").And.Contain("AppendTokens"));
            Assert.That(File.Exists(Path.Combine(output, "tokenizer.json")), Is.False);
            Assert.That(config.RootElement.GetProperty("model").GetProperty("eos_token_id").GetInt32(), Is.Zero, "World's end of text");
        });
    }

    [Test]
    public void Export_UnknownTarget_IsAUsageErrorNamingTheOption()
    {
        CliRun run = Run("export", SharedFixtures.RwkvCppModel(Model, "FP32"), "-o", Path.Combine(_work, "model"), "--target", "onnx");
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(2));
            Assert.That(run.Stderr, Does.StartWith("error: --target: 'onnx' is not an export target; expected rwkv or genai."));
            Assert.That(Directory.GetFileSystemEntries(_work), Is.Empty);
        });
    }

    // RWKV-7 fixture: 12 layers, one head of 64. Time states are checked numerically in GenaiStatePackingTests.
    [Test]
    public void Export_TargetGenai_TimeState_AddsAStartedRowToConvState()
    {
        string pth = WriteTimeState(Path.Combine(_work, "time-state.pth"), layers: 12, heads: 1, headSize: 64);
        string output = Path.Combine(_work, "genai");
        CliRun run = Run("export", SharedFixtures.RwkvCppModel("7v0-834K", "FP32"), "-o", output, "--target", "genai", "--time-state", pth);
        Assert.That(run.ExitCode, Is.Zero, run.Stderr);
        using var session = new InferenceSession(Path.Combine(output, "step.onnx"));
        Assert.Multiple(() =>
        {
            Assert.That(session.InputMetadata["past_key_values.0.conv_state"].Dimensions, Is.EqualTo(new[] { -1, 3, 64 }));
            Assert.That(session.InputMetadata["past_key_values.0.recurrent_state"].Dimensions, Is.EqualTo(new[] { -1, 1, 64, 64 }));
        });
    }

    [Test]
    public void Export_TimeStateWithoutTargetGenai_IsAUsageErrorNamingTheOption()
    {
        string pth = WriteTimeState(Path.Combine(_work, "time-state.pth"), layers: 12, heads: 1, headSize: 64);
        CliRun run = Run("export", SharedFixtures.RwkvCppModel("7v0-834K", "FP32"), "-o", Path.Combine(_work, "model"), "--time-state", pth);
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(2));
            Assert.That(run.Stderr, Does.StartWith("error: --time-state: applies to --target genai;"));
            Assert.That(Directory.Exists(Path.Combine(_work, "model")), Is.False);
        });
    }

    // A file for fewer layers than the model, and a model without a tuned state (RWKV-4): refused before anything is written.
    [TestCase("7v0-834K", 11, 1, 64, 1, "has no tensor 'blocks.11.att.time_state'")]
    [TestCase("7v0-834K", 12, 1, 32, 1, "'blocks.0.att.time_state'")]
    [TestCase("4v0-660K", 4, 1, 64, 2, "RWKV-4")]
    public void Export_TargetGenai_TimeStateThatDoesNotFit_FailsNamingIt(string model, int layers, int heads, int headSize, int exitCode, string detail)
    {
        string pth = WriteTimeState(Path.Combine(_work, "time-state.pth"), layers, heads, headSize);
        string output = Path.Combine(_work, "genai");
        CliRun run = Run("export", SharedFixtures.RwkvCppModel(model, "FP32"), "-o", output, "--target", "genai", "--time-state", pth);
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(exitCode));
            Assert.That(run.Stderr, Does.StartWith("error: ").And.Contain(detail).And.Contain(pth));
            Assert.That(run.Stderr.Trim().Split('\n'), Has.Length.EqualTo(1), "one line, no stack trace");
            Assert.That(Directory.Exists(output), Is.False);
        });
    }

    // An RWKV-PEFT state-tuning .pth: one blocks.{i}.att.time_state [heads, headSize, headSize] per layer.
    private static string WriteTimeState(string path, int layers, int heads, int headSize)
    {
        var views = new List<TorchZipWriter.TensorView>();
        var storages = new Dictionary<string, TorchZipWriter.Storage>();
        for (int layer = 0; layer < layers; layer++)
        {
            string key = layer.ToString(System.Globalization.CultureInfo.InvariantCulture);
            storages[key] = new TorchZipWriter.Storage(Rwkv.Onnx.Export.Checkpoints.TensorDType.Float32, [.. Enumerable.Range(0, heads * headSize * headSize).Select(i => (i % 7) * 0.01f)]);
            views.Add(TorchZipWriter.TensorView.Contiguous($"blocks.{layer}.att.time_state", key, heads, headSize, headSize));
        }
        TorchZipWriter.WriteStateDict(path, views, storages);
        return path;
    }
}
