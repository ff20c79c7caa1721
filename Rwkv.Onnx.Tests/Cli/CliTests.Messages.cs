using System.Text;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Cli;

/// <summary>Bad input across every command: one <c>error:</c> line that names what is wrong, without .NET internals.</summary>
public sealed partial class CliTests
{
    private const string UsageHint = "Run 'rwkv-onnx --help' (or 'rwkv-onnx <command> --help') for usage.";

    // Inputs of the wrong kind, written once per test outside _work, which must stay empty.
    private sealed record BadInputs(string Root, string EmptyFile, string TextFile, string EmptyDirectory, string Missing,
        string TruncatedCheckpoint, string CorruptManifestModel, string FourLayerState);

    private BadInputs CreateBadInputs()
    {
        string root = Directory.CreateDirectory(Path.Combine(_root, "inputs-" + Guid.NewGuid().ToString("N"))).FullName;
        string Write(string name, byte[] bytes)
        {
            string path = Path.Combine(root, name);
            File.WriteAllBytes(path, bytes);
            return path;
        }
        string corrupt = Path.Combine(root, "corrupt-manifest");
        Directory.CreateDirectory(corrupt);
        foreach (string file in Directory.GetFiles(_model))
        {
            File.Copy(file, Path.Combine(corrupt, Path.GetFileName(file)));
        }
        string manifest = Path.Combine(corrupt, RwkvContract.ManifestFile);
        File.WriteAllText(manifest, File.ReadAllText(manifest).Replace("\"layers\": 12", "\"layers\": \"twelve\"", StringComparison.Ordinal));

        // The start of a state saved for a 4-layer model: RwkvState.Save's magic, then format version 2 and layer count 4 as little-endian int32s.
        byte[] fourLayers = [.. "RWKS"u8, 2, 0, 0, 0, 4, 0, 0, 0];
        return new BadInputs(root, Write("empty.bin", []), Write("notes.txt", Encoding.UTF8.GetBytes("hello, this is not a model\n")),
            Directory.CreateDirectory(Path.Combine(root, "empty-dir")).FullName, Path.Combine(root, "missing"),
            Write("truncated.bin", File.ReadAllBytes(SharedFixtures.RwkvCppModel(Model, "FP32"))[..100]), corrupt, Write("four-layers.state", fourLayers));
    }

    [Test]
    public void EveryCommand_BadInput_GivesOneErrorLineThatNamesIt_WithoutInternals()
    {
        BadInputs bad = CreateBadInputs();
        string checkpoint = SharedFixtures.RwkvCppModel(Model, "FP32");
        string hf = Path.Combine(SharedFixtures.FixturesDirectory, "hf", "rwkv-4-tiny-660K");
        string output = Path.Combine(_work, "out");
        string npy = Path.Combine(_work, "x.npy");
        string[] generate = ["generate", _model, "--prompt", "x", "--max-tokens", "1"];
        // (command line, what the error line must name)
        var cases = new List<(string[] Args, string[] Named)>
        {
            // a checkpoint or another kind of path where a model directory is expected
            (["generate", checkpoint, "--prompt", "x"], [checkpoint, "RWKV-7 checkpoint", "rwkv-onnx export"]),
            (["generate", hf, "--prompt", "x"], [hf, "RWKV-4 checkpoint", "rwkv-onnx export"]),
            (["chat", checkpoint], [checkpoint, "rwkv-onnx export"]),
            (["logits", checkpoint, "--tokens", "1", "--out", npy], [checkpoint, "rwkv-onnx export"]),
            (["verify", checkpoint, "--against", checkpoint], [checkpoint, "rwkv-onnx export"]),
            (["bench", checkpoint], [checkpoint, "rwkv-onnx export"]),
            (["generate", bad.TextFile, "--prompt", "x"], [bad.TextFile, "model directory"]),
            (["generate", bad.EmptyDirectory, "--prompt", "x"], [bad.EmptyDirectory, RwkvContract.ManifestFile]),
            (["generate", bad.Missing, "--prompt", "x"], [bad.Missing]),
            (["logits", bad.CorruptManifestModel, "--tokens", "1", "--out", npy], [RwkvContract.ManifestFile, "layers"]),
            // a model directory or another kind of path where a checkpoint is expected
            (["export", _model, "-o", output], [_model, "exported ONNX model directory"]),
            (["export", bad.EmptyFile, "-o", output], [bad.EmptyFile]),
            (["export", bad.TextFile, "-o", output], [bad.TextFile]),
            (["export", bad.EmptyDirectory, "-o", output], [bad.EmptyDirectory]),
            (["export", bad.Missing, "-o", output], [bad.Missing]),
            (["export", bad.TruncatedCheckpoint, "-o", output], [bad.TruncatedCheckpoint, "truncated"]),
            (["inspect", bad.TextFile], [bad.TextFile]),
            (["inspect", bad.Missing], [bad.Missing]),
            (["verify", _model, "--against", _model], [_model, "not a checkpoint"]),
            (["verify", _model, "--against", bad.TextFile], [bad.TextFile]),
            (["verify", _model, "--against", checkpoint, "--text", bad.EmptyDirectory], ["--text", bad.EmptyDirectory]),
            (["verify", _model, "--against", checkpoint, "--text", bad.Missing], ["--text", bad.Missing]),
            (["bench", "compare", bad.TextFile], [bad.TextFile]),
            (["tokenize", bad.Missing, "--text", "x"], [bad.Missing]),
            // --state files
            ([.. generate, "--state", bad.Missing], ["--state", bad.Missing]),
            ([.. generate, "--state", bad.EmptyDirectory], ["--state", bad.EmptyDirectory, "RWKS"]),
            ([.. generate, "--state", bad.EmptyFile], ["--state", bad.EmptyFile, "RWKS", "time_state"]),
            ([.. generate, "--state", bad.TextFile], ["--state", bad.TextFile, "RWKS", "time_state"]),
            ([.. generate, "--state", checkpoint], ["--state", checkpoint, "time_state"]),
            ([.. generate, "--state", bad.FourLayerState], ["--state", bad.FourLayerState, "layer count 4"]),
            // output paths
            (["logits", _model, "--tokens", "1", "--out", bad.EmptyDirectory], ["--out", bad.EmptyDirectory]),
            (["logits", _model, "--tokens", "1", "--out", Path.Combine(bad.Missing, "x.npy")], ["--out", "x.npy"]),
            (["random-checkpoint", "--version", "7", "--layers", "1", "--embd", "64", "-o", bad.EmptyDirectory], ["--output", bad.EmptyDirectory]),
            // values
            (["export", checkpoint, "-o", output, "--tokenizer", SharedFixtures.Tokenizer("rwkv_vocab_v20230424.txt")], ["rwkv_vocab_v20230424.txt", "65536", "256"]),
            ([.. generate, "--temperature", "1,5"], ["--temperature", "'1,5'"]),
            ([.. generate, "--threads", "abc"], ["--threads", "'abc'"]),
            ([.. generate, "--top-k", "99999999999"], ["--top-k", "99999999999"]),
            ([.. generate, "--frobnicate", "1"], ["--frobnicate"]),
            (["logits", _model, "--tokens", "1,x", "--out", npy], ["--tokens", "'x'"]),
            (["logits", _model, "--tokens", "99999999999", "--out", npy], ["--tokens", "99999999999"]),
            (["export", checkpoint, "-o", output, "--block-size", "1e3"], ["--block-size", "'1e3'"]),
            (["random-checkpoint", "--version", "7", "--layers", "0", "--embd", "64", "-o", Path.Combine(_work, "r.bin")], ["--layers", "0"]),
        };
        Assert.Multiple(() =>
        {
            foreach ((string[] args, string[] named) in cases)
            {
                CliRun run = RunWithInput("", args);
                string line = string.Join(' ', args);
                string[] lines = run.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                Assert.That(run.ExitCode, Is.EqualTo(1).Or.EqualTo(2), $"{line}: {run.Stderr}");
                Assert.That(lines, Has.Length.InRange(1, 2).And.One.StartsWith("error: "), line);
                Assert.That(lines.Skip(1), Is.All.EqualTo(UsageHint), line);
                Assert.That(run.Stderr, Does.Not.Contain("   at ").And.Not.Contain("(Parameter '").And.Not.Contain("System."), line);
                foreach (string name in named)
                {
                    Assert.That(lines.FirstOrDefault(), Does.Contain(name), line);
                }
            }
            Assert.That(Directory.GetFileSystemEntries(_work), Is.Empty, "no command wrote anything");
        });
    }

    [Test]
    public void Generate_Checkpoint_SaysItIsACheckpointAndGivesTheExportCommand()
    {
        string checkpoint = SharedFixtures.RwkvCppModel(Model, "FP32");
        CliRun run = Run("generate", checkpoint, "--prompt", "x");
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(2));
            Assert.That(run.Stderr, Is.EqualTo(
                $"error: '{checkpoint}' is an RWKV-7 checkpoint (rwkv.cpp), not an exported model directory; export it first: rwkv-onnx export {checkpoint} -o <model-dir>{Environment.NewLine}"));
        });
    }

    [Test]
    public void Generate_TruncatedStateFile_NamesTheFileAndTheExpectedSize()
    {
        byte[] saved;
        using (RwkvModel model = RwkvModel.Load(_model))
        using (RwkvState state = model.CreateState())
        using (var stream = new MemoryStream())
        {
            state.Save(stream);
            saved = stream.ToArray();
        }
        Assert.Multiple(() =>
        {
            // Cut inside the header (the reported "Unable to read beyond the end of the stream"), then inside the data.
            foreach (int keep in new[] { 10, saved.Length - 1000 })
            {
                string path = Path.Combine(_root, $"truncated-{Guid.NewGuid():N}.state");
                File.WriteAllBytes(path, saved[..keep]);
                CliRun run = Run("generate", _model, "--prompt", "x", "--max-tokens", "1", "--state", path);
                Assert.That(run.ExitCode, Is.EqualTo(1), $"{keep} bytes");
                Assert.That(run.Stderr, Does.StartWith($"error: --state: saved state '{path}' cannot be loaded: "), $"{keep} bytes");
                Assert.That(run.Stderr, Does.Contain($"{saved.Length} bytes"), $"{keep} bytes: the size of a whole saved state of this model");
                Assert.That(run.Stderr, Does.Not.Contain("Unable to read beyond the end of the stream"), $"{keep} bytes");
                Assert.That(run.Stdout, Is.Empty, $"{keep} bytes");
            }
        });
    }

    [Test]
    public void Generate_TextFileAsState_SaysWhatAStateFileIs_NotWhichCheckpointFormatsExist()
    {
        string path = Path.Combine(_root, $"notes-{Guid.NewGuid():N}.txt");
        File.WriteAllText(path, "my notes\n");
        CliRun run = Run("generate", _model, "--prompt", "x", "--state", path);
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(1));
            Assert.That(run.Stderr, Does.StartWith($"error: --state: '{path}' is neither kind of state file; expected a state saved by RwkvState.Save (a file starting with 'RWKS')"));
            Assert.That(run.Stderr, Does.Not.Contain("Checkpoint").And.Not.Contain("safetensors"));
        });
    }

    [Test]
    public void Export_TokenizerLargerThanTheVocabulary_IsOneSentenceWithoutTheParameterName()
    {
        string tokenizer = SharedFixtures.Tokenizer("rwkv_vocab_v20230424.txt");
        CliRun run = Run("export", SharedFixtures.RwkvCppModel(Model, "FP32"), "-o", Path.Combine(_work, "model"), "--tokenizer", tokenizer);
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(2));
            Assert.That(run.Stderr, Is.EqualTo($"error: Tokenizer '{tokenizer}' has 65536 tokens, more than the model's vocabulary of 256.{Environment.NewLine}"));
            Assert.That(Directory.GetFileSystemEntries(_work), Is.Empty);
        });
    }

    [Test]
    public void UnknownOptionWithAValue_IsOneErrorLine()
    {
        CliRun run = Run("generate", _model, "--prompt", "x", "--frobnicate", "1");
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(2));
            Assert.That(run.Stderr, Is.EqualTo(
                $"error: Unrecognized command or argument '--frobnicate'. Unrecognized command or argument '1'.{Environment.NewLine}{UsageHint}{Environment.NewLine}"));
        });
    }
}
