using Rwkv.Onnx.Export;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Cli;

public sealed partial class CliTests
{
    // 12 layers × (att_shift 64 + wkv 1×64×64 + ffn_shift 64) floats × 4 bytes, from the fixtures README's shape table.
    private const string TinyStateBytes = "state per sequence 202,752 bytes";

    [Test]
    public void Inspect_Checkpoint_PrintsDetectedShapeAndStateSize()
    {
        CliRun run = Run("inspect", SharedFixtures.RwkvCppModel(Model, "FP16"));

        Assert.That(run.ExitCode, Is.Zero, run.Stderr);
        Assert.That(run.Stdout, Does.Contain("version RWKV-7")
            .And.Contain("layers 12, width 64, heads 1 x 64, vocab 256, ffn 256")
            .And.Contain("parameters 829,888, dtype fp16")
            .And.Contain(TinyStateBytes));
    }

    [Test]
    public void Inspect_ModelDirectory_PrintsManifest()
    {
        CliRun run = Run("inspect", _model);

        Assert.That(run.ExitCode, Is.Zero, run.Stderr);
        Assert.That(run.Stdout, Does.Contain("model directory").And.Contain("dtype fp32").And.Contain(TinyStateBytes).And.Contain("opset 17, IR 8"));
    }

    [Test]
    public void Inspect_QuantizedModelDirectory_PrintsTokenizerStopIdsAndOnnxRuntimeNeeds()
    {
        string output = Path.Combine(_work, "int8");
        RwkvExporter.Export(SharedFixtures.RwkvCppModel(Model, "FP32"), output, new ExportOptions { WeightDType = WeightDType.Int8 });

        CliRun run = Run("inspect", output);

        Assert.That(run.ExitCode, Is.Zero, run.Stderr);
        Assert.That(run.Stdout, Does.Contain("tokenizer bytes, end of text none, stop tokens none, chat template world")
            .And.Contain("minimum ONNX Runtime 1.22.0")
            .And.Contain("step.onnx: op domains ai.onnx 17, com.microsoft 1; custom ops com.microsoft.MatMulNBits (ONNX Runtime 1.22.0)")
            .And.Contain("state_copy.onnx: op domains ai.onnx 17" + Environment.NewLine));
    }

    [Test]
    public void Inspect_ManifestWithoutTheContractKeys_SaysTheyAreNotRecorded()
    {
        // A format-2 manifest written before generation, min_onnxruntime_version and the graphs' domains were recorded.
        string older = Path.Combine(_work, "older");
        Directory.CreateDirectory(older);
        var manifest = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(_model, RwkvContract.ManifestFile)))!.AsObject();
        manifest.Remove("generation");
        manifest.Remove("min_onnxruntime_version");
        foreach (string graph in new[] { "step_graph", "prefill_graph", "state_copy_graph" })
        {
            manifest[graph]!.AsObject().Remove("opset_imports");
            manifest[graph]!.AsObject().Remove("custom_ops");
        }
        File.WriteAllText(Path.Combine(older, RwkvContract.ManifestFile), manifest.ToJsonString());

        CliRun run = Run("inspect", older);

        Assert.That(run.ExitCode, Is.Zero, run.Stderr);
        Assert.That(run.Stdout, Does.Contain("stop tokens and chat template not recorded").And.Contain("minimum ONNX Runtime not recorded")
            .And.Contain("step.onnx: op domains not recorded"));
    }

    [TestCase("4v0-660K", "version RWKV-4", "heads 1 x 128", "10,240")]      // 4 layers × 5 slots × 128 floats × 4 bytes
    [TestCase("5v1-730K", "version RWKV-5.0", "heads 8 x 8", "30,720")]      // 12 × (64 + 8·8·8 + 64) × 4
    [TestCase("5v2-730K", "version RWKV-5.2", "heads 8 x 8", "30,720")]
    [TestCase("6v0-1m", "version RWKV-6", "heads 8 x 8", "30,720")]
    public void Inspect_EveryVersion_DetectsItsShape(string model, string version, string heads, string stateBytes)
    {
        // RWKV-4 has no group norm, so the epsilon rwkv.cpp's later tiny models need is refused for it.
        string[] epsilon = model.StartsWith('4') ? [] : ["--group-norm-eps", "1e-5"];
        CliRun run = Run(["inspect", SharedFixtures.RwkvCppModel(model, "FP32"), .. epsilon]);

        Assert.That(run.ExitCode, Is.Zero, run.Stderr);
        Assert.That(run.Stdout, Does.Contain(version + "\n").Or.Contain(version + Environment.NewLine));
        Assert.That(run.Stdout, Does.Contain(heads).And.Contain($"state per sequence {stateBytes} bytes"));
    }

    [Test]
    public void Inspect_HuggingFaceDirectory_IsReadAsACheckpoint()
    {
        CliRun run = Run("inspect", Path.Combine(SharedFixtures.FixturesDirectory, "hf", "rwkv-4-tiny-660K"));

        Assert.That(run.ExitCode, Is.Zero, run.Stderr);
        Assert.That(run.Stdout, Does.Contain("(hf-safetensors)").And.Contain("version RWKV-4").And.Contain("parameters 661,504, dtype fp16"));
    }

    [Test]
    public void Inspect_DeepEmbedCheckpointAndItsExport_NameTheVariant()
    {
        string checkpoint = SharedFixtures.Rwkv7Variant("tiny-rwkv-7a-de-L2.pth");
        string exported = Path.Combine(_work, "7a");
        CliRun export = Run("export", checkpoint, "--output", exported);
        Assert.That(export.ExitCode, Is.Zero, export.Stderr);
        Assert.That(export.Stdout, Does.StartWith("exported RWKV-7, variant deepembed, to "));

        foreach (string target in new[] { checkpoint, exported })
        {
            CliRun run = Run("inspect", target);

            Assert.That(run.ExitCode, Is.Zero, run.Stderr);
            Assert.That(run.Stdout, Does.Contain("version RWKV-7, variant deepembed").And.Contain("layers 2, width 64"), target);
        }
    }

    [Test]
    public void Inspect_FlaRwkv7Directory_IsReadAsACheckpoint()
    {
        CliRun run = Run("inspect", SharedFixtures.Rwkv7Variant("hf/rwkv7-7v0-834K-bf16"));

        Assert.That(run.ExitCode, Is.Zero, run.Stderr);
        Assert.That(run.Stdout, Does.Contain("(hf-safetensors)").And.Contain("version RWKV-7" + Environment.NewLine)
            .And.Contain("heads 1 x 64").And.Contain("parameters 829,888, dtype bf16"));
    }

    [Test]
    public void Inspect_DeaCheckpointAndItsExport_NameTheVariant()
    {
        string checkpoint = SharedFixtures.Rwkv7Variant("tiny-rwkv-7b-dea-L2.pth");
        string exported = Path.Combine(_work, "7b");
        CliRun export = Run("export", checkpoint, "--output", exported, "--context-limit", "100");
        Assert.That(export.ExitCode, Is.Zero, export.Stderr);
        Assert.That(export.Stdout, Does.StartWith("exported RWKV-7, variant deepembed-attention, to "));

        foreach (string target in new[] { checkpoint, exported })
        {
            CliRun run = Run("inspect", target);

            Assert.That(run.ExitCode, Is.Zero, run.Stderr);
            Assert.That(run.Stdout, Does.Contain("version RWKV-7, variant deepembed-attention").And.Contain("layers 2, width 64"), target);
        }
        Assert.That(Run("inspect", exported).Stdout, Does.Contain("context limit 100 tokens, state 520 bytes per token"));
    }

    [Test]
    public void Generate_PastTheContextLimit_FailsWithOneErrorLine()
    {
        string exported = Path.Combine(_work, "7b-small");
        CliRun export = Run("export", SharedFixtures.Rwkv7Variant("tiny-rwkv-7b-dea-L2.pth"), "--output", exported, "--context-limit", "8");
        Assert.That(export.ExitCode, Is.Zero, export.Stderr);

        CliRun run = Run("generate", exported, "--prompt", "0123456789", "--max-tokens", "4");

        Assert.That(run.ExitCode, Is.EqualTo(1));
        Assert.That(run.Stderr.TrimEnd().Split('\n'), Has.Length.EqualTo(1));
        Assert.That(run.Stderr, Does.StartWith("error: The sequence holds 0 tokens and this run adds 10, past the 8-token capacity"));
    }

    [Test]
    public void Export_DeaCheckpointForGenai_FailsWithOneErrorLine()
    {
        string output = Path.Combine(_work, "7b-genai");
        CliRun run = Run("export", SharedFixtures.Rwkv7Variant("tiny-rwkv-7b-dea-L2.pth"), "--output", output, "--target", "genai");

        Assert.That(run.ExitCode, Is.EqualTo(2));
        Assert.That(run.Stderr.TrimEnd().Split('\n'), Has.Length.EqualTo(1));
        Assert.That(run.Stderr, Does.StartWith("error: ").And.Contain("tiny-rwkv-7b-dea-L2.pth").And.Contain("onnxruntime-genai's RWKV state is two fixed-size tensors per layer"));
        Assert.That(Directory.Exists(output), Is.False);
    }

    [Test]
    public void Export_ContextLimitForAFixedSizeState_FailsWithOneErrorLine()
    {
        string output = Path.Combine(_work, "7a-limit");
        CliRun run = Run("export", SharedFixtures.Rwkv7Variant("tiny-rwkv-7a-de-L2.pth"), "--output", output, "--context-limit", "100");

        Assert.That(run.ExitCode, Is.EqualTo(2));
        Assert.That(run.Stderr.TrimEnd().Split('\n'), Has.Length.EqualTo(1));
        Assert.That(run.Stderr, Does.StartWith("error: A context limit (100 tokens) applies only to a state that keeps every token (RWKV-7b)"));
        Assert.That(Directory.Exists(output), Is.False);
    }

    [Test]
    public void Inspect_MissingPath_FailsNamingIt()
    {
        string missing = Path.Combine(_work, "nothing-here");
        CliRun run = Run("inspect", missing);

        Assert.That(run.ExitCode, Is.EqualTo(1));
        Assert.That(run.Stderr, Does.StartWith("error: ").And.Contain(missing));
    }
}
