using System.Text.Json.Nodes;
using Rwkv.Onnx.Export.Checkpoints;
using Rwkv.Onnx.Tests.Export.Triton;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Cli;

/// <summary>
/// <c>rwkv-onnx triton</c>: the repository it writes (TritonRepositoryTests checks its contents against the graph), and
/// each refusal as one <c>error:</c> line with nothing written.
/// </summary>
public sealed partial class CliTests
{
    [Test]
    public void Triton_WritesTheRepositoryAndListsIt()
    {
        string repository = Path.Combine(_work, "repo");
        CliRun run = Run("triton", _model, repository, "--max-batch-size", "4", "--instances", "2");
        string model = Path.Combine(repository, "tiny-rwkv-7");
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.Zero, run.Stderr);
            Assert.That(Directory.GetFileSystemEntries(repository).Select(Path.GetFileName), Is.EqualTo(new[] { "tiny-rwkv-7" }));
            Assert.That(Directory.GetFiles(Path.Combine(model, "1")).Select(Path.GetFileName).Order(StringComparer.Ordinal),
                Is.EqualTo(new[] { "model.onnx", "weights.onnx.data" }));
            Assert.That(File.ReadAllBytes(Path.Combine(model, "1", "model.onnx")), Is.EqualTo(File.ReadAllBytes(Path.Combine(_model, "step.onnx"))));
            Assert.That(Directory.Exists(Path.Combine(model, "initial_state")), Is.False, "RWKV-7 starts every state at zero");
            Assert.That(File.ReadAllText(Path.Combine(model, "config.pbtxt")), Does.Contain("max_batch_size: 4").And.Contain("count: 2"));
            Assert.That(File.ReadAllText(Path.Combine(model, "README.md")), Does.Contain("tritonserver --model-repository=/models")
                .And.Contain("\"sequence_start\": true").And.Contain("sequence_id=sequence_id"));
            Assert.That(run.Stdout, Does.Contain("tiny-rwkv-7/1/model.onnx").And.Contain("tiny-rwkv-7/config.pbtxt"));
            Assert.That(Directory.GetFileSystemEntries(_work).Select(Path.GetFileName), Is.EqualTo(new[] { "repo" }), "no temporary directory is left");
        });
    }

    [Test]
    public void Triton_IntoAnEmptyDirectoryWithAName_UsesIt()
    {
        string repository = Directory.CreateDirectory(Path.Combine(_work, "repo")).FullName;
        CliRun run = Run("triton", _model, repository, "--name", "rwkv7");
        Assert.That(run.ExitCode, Is.Zero, run.Stderr);
        Assert.That(File.ReadAllText(Path.Combine(repository, "rwkv7", "config.pbtxt")), Does.Contain("name: \"rwkv7\""));
    }

    [Test]
    public void Triton_ExistingRepository_IsRefusedAndLeftAsItWas()
    {
        string repository = Directory.CreateDirectory(Path.Combine(_work, "repo")).FullName;
        File.WriteAllText(Path.Combine(repository, "notes.txt"), "mine");
        CliRun run = Run("triton", _model, repository);
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(2));
            Assert.That(run.Stderr, Is.EqualTo($"error: repository: Repository '{repository}' already exists and is not empty; choose a new directory, nothing was written.{Environment.NewLine}"));
            Assert.That(Directory.GetFileSystemEntries(repository).Select(Path.GetFileName), Is.EqualTo(new[] { "notes.txt" }));
            Assert.That(Directory.GetFileSystemEntries(_work).Select(Path.GetFileName), Is.EqualTo(new[] { "repo" }));
        });
    }

    [Test]
    public void Triton_DirectoryThatIsNoExport_FailsWithOneLine()
    {
        string notAnExport = Directory.CreateDirectory(Path.Combine(_work, "photos")).FullName;
        File.WriteAllText(Path.Combine(notAnExport, "a.jpg"), "x");
        CliRun run = Run("triton", notAnExport, Path.Combine(_work, "repo"));
        AssertRefusedWithNothingWritten(run, exitCode: 1, $"error: '{notAnExport}' is not an exported RWKV model directory: 'rwkv-manifest.json' is missing.");
    }

    [Test]
    public void Triton_Checkpoint_IsAUsageError()
    {
        CliRun run = Run("triton", SharedFixtures.RwkvCppModel(Model, "FP32"), Path.Combine(_work, "repo"));
        AssertRefusedWithNothingWritten(run, exitCode: 2, "error: '");
        Assert.That(run.Stderr, Does.Contain("is an RWKV-7 checkpoint (rwkv.cpp), not an exported model directory; export it first"));
    }

    [Test]
    public void Triton_GenaiExport_IsRefused()
    {
        string genai = Path.Combine(_work, "genai");
        Assert.That(Run("export", SharedFixtures.RwkvCppModel(Model, "FP32"), "-o", genai, "--target", "genai").ExitCode, Is.Zero);
        CliRun run = Run("triton", genai, Path.Combine(_work, "repo"));
        AssertRefusedWithNothingWritten(run, exitCode: 1,
            $"error: '{genai}' is an onnxruntime-genai export (export --target genai): its graphs pack the state for genai and it has no rwkv-manifest.json; export the checkpoint again without --target and write the Triton repository from that.",
            alsoPresent: "genai");
    }

    [Test]
    public void Triton_SessionSettingTheBackendCannotApply_IsRefused()
    {
        string copy = Directory.CreateDirectory(Path.Combine(_work, "copy")).FullName;
        foreach (string file in Directory.GetFiles(_model))
        {
            File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
        }
        string manifestPath = Path.Combine(copy, "rwkv-manifest.json");
        JsonNode manifest = JsonNode.Parse(File.ReadAllText(manifestPath))!;
        manifest["session_config"] = new JsonObject { ["session.intra_op.allow_spinning"] = "0" };
        File.WriteAllText(manifestPath, manifest.ToJsonString());
        CliRun run = Run("triton", copy, Path.Combine(_work, "repo"));
        AssertRefusedWithNothingWritten(run, exitCode: 1, "error: The manifest asks every session for 'session.intra_op.allow_spinning' = '0', which Triton's ONNX Runtime backend cannot set",
            alsoPresent: "copy");
    }

    /// <summary>
    /// <c>--state</c> with a state-tuning file (RWKV-PEFT's <c>blocks.{i}.att.time_state</c>): the wkv tensors start
    /// from it (files under initial_state/), and the served graph driven as the sequence batcher drives it gives our
    /// runtime's logits started from the same file; the same repository without it does not.
    /// </summary>
    [Test]
    public void Triton_TimeState_EverySequenceStartsFromIt()
    {
        string pth = Path.Combine(_work, "time-state.pth");
        using (RwkvModel loaded = RwkvModel.Load(_model))
        {
            WriteRandomTimeState(loaded.Manifest.Architecture, pth, seed: 9);
        }
        string tuned = Path.Combine(_work, "tuned");
        CliRun run = Run("triton", _model, tuned, "--state", pth);
        Assert.That(run.ExitCode, Is.Zero, run.Stderr);
        string model = Path.Combine(tuned, "tiny-rwkv-7");
        Assert.That(Directory.GetFiles(Path.Combine(model, "initial_state")).Select(Path.GetFileName),
            Is.EquivalentTo(Enumerable.Range(0, 12).Select(layer => $"past_wkv.{layer}.bin")));

        RwkvState FromFile(RwkvModel m)
        {
            using RwkvCheckpoint timeState = RwkvCheckpoint.Open(pth);
            return RwkvState.FromTimeState(m, timeState);
        }
        TritonRepositoryTests.CheckAgainstRuntime(_model, model, zeroStart: false, maxBatch: 1, tolerance: 1e-5f, FromFile);
        Assert.That(() => TritonRepositoryTests.CheckAgainstRuntime(_model, model, zeroStart: true, maxBatch: 1, tolerance: 1e-5f, FromFile),
            Throws.InstanceOf<AssertionException>(), "from zeros the logits differ");
    }

    [Test]
    public void Triton_StateOfAnotherShape_IsRefusedWithNothingWritten()
    {
        string pth = Path.Combine(_work, "time-state.pth");
        using (RwkvModel loaded = RwkvModel.Load(_model))
        {
            WriteRandomTimeState(loaded.Manifest.Architecture with { Heads = loaded.Manifest.Architecture.Heads + 1 }, pth, seed: 9);
        }
        CliRun run = Run("triton", _model, Path.Combine(_work, "repo"), "--state", pth);
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(1), run.Stderr);
            Assert.That(run.Stderr, Does.StartWith("error: --state: "));
            Assert.That(Directory.Exists(Path.Combine(_work, "repo")), Is.False);
        });
    }

    // Random time_state matrices [H, N, N] for every layer, in RWKV-PEFT's .pth form.
    private static void WriteRandomTimeState(RwkvArchitectureInfo a, string path, int seed)
    {
        var random = new Random(seed);
        var views = new List<TorchZipWriter.TensorView>();
        var storages = new Dictionary<string, TorchZipWriter.Storage>();
        for (int layer = 0; layer < a.Layers; layer++)
        {
            string key = layer.ToString(System.Globalization.CultureInfo.InvariantCulture);
            storages[key] = new TorchZipWriter.Storage(TensorDType.Float32,
                [.. Enumerable.Range(0, a.Heads * a.HeadSize * a.HeadSize).Select(_ => (float)((random.NextDouble() * 2) - 1))]);
            views.Add(TorchZipWriter.TensorView.Contiguous($"blocks.{layer}.att.time_state", key, a.Heads, a.HeadSize, a.HeadSize));
        }
        TorchZipWriter.WriteStateDict(path, views, storages);
    }

    [TestCase(".hidden")]
    [TestCase("a/b")]
    public void Triton_UnusableName_IsAUsageError(string name)
    {
        CliRun run = Run("triton", _model, Path.Combine(_work, "repo"), "--name", name);
        AssertRefusedWithNothingWritten(run, exitCode: 2, $"error: --name: '{name}' is not usable as a Triton model directory");
    }

    // One error line (a parse error adds the usual help hint), no stack trace, the exit code, and nothing in the work directory but what the test put there.
    private void AssertRefusedWithNothingWritten(CliRun run, int exitCode, string errorStart, string? alsoPresent = null)
    {
        string[] expected = [.. new[] { "photos", alsoPresent }.Where(e => e is not null && Directory.Exists(Path.Combine(_work, e))).Select(e => e!)];
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(exitCode), run.Stderr);
            Assert.That(run.Stderr, Does.StartWith(errorStart));
            Assert.That(run.Stderr.Split('\n').Count(line => line.StartsWith("error:", StringComparison.Ordinal)), Is.EqualTo(1), run.Stderr);
            Assert.That(run.Stderr, Does.Not.Contain("   at "), "no stack trace");
            Assert.That(Directory.GetFileSystemEntries(_work).Select(Path.GetFileName), Is.EquivalentTo(expected), "nothing was written");
        });
    }
}
