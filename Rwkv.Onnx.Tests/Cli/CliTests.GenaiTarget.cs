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
}
