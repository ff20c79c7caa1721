using System.Buffers.Binary;
using Rwkv.Onnx.Cli;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Cli;

/// <summary>
/// rwkv.cpp <c>.bin</c> files through <c>export</c> and <c>inspect</c>: a header contradicting the tensors is refused;
/// an RWKV-5 file without <c>--group-norm-eps</c> gets a one-line note that rwkv.cpp uses 1e-5.
/// </summary>
public sealed partial class CliTests
{
    private const string GroupNormNote = "note: rwkv.cpp runs its RWKV-5 files";

    [Test]
    public void Export_RwkvCppHeaderClaimingHugeEmbedding_FailsNamingBothValuesAndWritesNothing()
    {
        byte[] bytes = File.ReadAllBytes(SharedFixtures.RwkvCppModel(Model, "FP32"));
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(12), int.MaxValue); // n_embed
        string checkpoint = Path.Combine(_work, "lying-header.bin");
        File.WriteAllBytes(checkpoint, bytes);

        CliRun run = Run("export", checkpoint, "-o", Path.Combine(_work, "model"));

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Failure));
            Assert.That(run.Stderr, Does.StartWith($"error: Checkpoint '{checkpoint}' has a header that says n_embed 2147483647, but its tensors imply 64"));
            Assert.That(run.Stderr.TrimEnd().Split('\n'), Has.Length.EqualTo(1), "one error line");
            Assert.That(Directory.GetFileSystemEntries(_work).Select(Path.GetFileName), Is.EqualTo(new[] { "lying-header.bin" }));
        });
    }

    [TestCase("5v1-730K", "5.0")]
    [TestCase("5v2-730K", "5.2")]
    public void Export_RwkvCppRwkv5WithoutGroupNormEps_NotesThatRwkvCppUses1e5(string model, string version)
    {
        CliRun run = Run("export", SharedFixtures.RwkvCppModel(model, "Q5_1"), "-o", Path.Combine(_work, "model"));

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Success), run.Stderr);
        string[] notes = [.. run.Stderr.Split('\n').Where(line => line.StartsWith("note:", StringComparison.Ordinal))];
        Assert.That(notes, Has.Length.EqualTo(1));
        Assert.That(notes[0], Does.StartWith(GroupNormNote).And.Contain($"RWKV-{version}").And.Contain("--group-norm-eps 1e-5"));
    }

    [Test]
    public void Inspect_RwkvCppRwkv5WithoutGroupNormEps_NotesThatRwkvCppUses1e5()
    {
        CliRun run = Run("inspect", SharedFixtures.RwkvCppModel("5v2-730K", "FP32"));

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Success), run.Stderr);
        Assert.That(run.Stderr, Does.StartWith(GroupNormNote).And.Contain("--group-norm-eps 1e-5"));
    }

    [TestCase("export", "rwkv-cpp 5.2 with --group-norm-eps")]
    [TestCase("export", "rwkv-cpp 4")]
    [TestCase("export", "rwkv-cpp 6")]
    [TestCase("export", "rwkv-cpp 7")]
    [TestCase("export", "pth 5.2")]
    [TestCase("inspect", "rwkv-cpp 5.2 with --group-norm-eps")]
    [TestCase("inspect", "pth 5.0")]
    public void GroupNormNote_OnlyForRwkvCppRwkv5WithoutTheOption(string command, string source)
    {
        string[] checkpoint = source switch
        {
            "rwkv-cpp 5.2 with --group-norm-eps" => [SharedFixtures.RwkvCppModel("5v2-730K", "Q5_0"), "--group-norm-eps", "1e-5"],
            "rwkv-cpp 4" => [SharedFixtures.RwkvCppModel("4v0-660K", "Q5_0")],
            "rwkv-cpp 6" => [SharedFixtures.RwkvCppModel("6v0-1m", "Q5_0")],
            "rwkv-cpp 7" => [SharedFixtures.RwkvCppModel("7v0-834K", "Q5_0")],
            "pth 5.2" => [SharedFixtures.Pth("5v2-730K", "fp32")],
            _ => [SharedFixtures.Pth("5v1-730K", "fp32")],
        };
        string[] args = command == "export" ? ["export", .. checkpoint, "-o", Path.Combine(_work, "model")] : ["inspect", .. checkpoint];

        CliRun run = Run(args);

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Success), run.Stderr);
        Assert.That(run.Stderr, Does.Not.Contain("note:"));
    }
}
