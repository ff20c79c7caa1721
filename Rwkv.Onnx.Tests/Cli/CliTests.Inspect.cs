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
    public void Inspect_MissingPath_FailsNamingIt()
    {
        string missing = Path.Combine(_work, "nothing-here");
        CliRun run = Run("inspect", missing);

        Assert.That(run.ExitCode, Is.EqualTo(1));
        Assert.That(run.Stderr, Does.StartWith("error: ").And.Contain(missing));
    }
}
