using System.Diagnostics;
using System.Security.Cryptography;
using Rwkv.Onnx.Exceptions;
using Rwkv.Onnx.Export;

namespace Rwkv.Onnx.Tests.Reliability;

/// <summary>
/// An export either produces a complete model directory or leaves none: cancellation and failures at any stage
/// leave nothing, a killed export's leftovers never load and are cleaned by the next export, and overwriting
/// swaps the whole directory.
/// </summary>
[TestFixture]
public sealed class ExportAtomicityTests
{
    private const int DeadProcessId = 2_000_000_000; // above Linux's pid_max and any Windows pid seen in practice

    private string _work = "";
    private string _output = "";

    [SetUp]
    public void SetUp()
    {
        _work = RuntimeReliabilityModels.CreateTemporaryDirectory();
        _output = Path.Combine(_work, "model");
    }

    public static IEnumerable<TestCaseData> InterruptionPoints()
    {
        foreach (bool viaToken in new[] { true, false })
        {
            string how = viaToken ? "token" : "throwing progress";
            yield return new TestCaseData("weights", 1, viaToken).SetArgDisplayNames("first weight", how);
            yield return new TestCaseData("weights", -1, viaToken).SetArgDisplayNames("last weight", how);
            yield return new TestCaseData("step graph", 0, viaToken).SetArgDisplayNames("step graph", how);
            yield return new TestCaseData("prefill graph", 1, viaToken).SetArgDisplayNames("prefill graph written", how);
        }
    }

    /// <param name="stage">The progress stage at which to interrupt.</param>
    /// <param name="done">The progress count at which to interrupt; -1 for the stage's last report.</param>
    /// <param name="viaToken">Cancel the token (true) or throw from the progress callback (false).</param>
    [TestCaseSource(nameof(InterruptionPoints))]
    public void Export_InterruptedAtAnyStage_LeavesNoDirectory(string stage, int done, bool viaToken)
    {
        using var cts = new CancellationTokenSource();
        bool interrupted = false;
        var progress = new SyncProgress(p =>
        {
            if (!interrupted && p.Stage == stage && (p.Done == done || (done < 0 && p.Done == p.Total)))
            {
                interrupted = true;
                if (viaToken)
                {
                    cts.Cancel();
                }
                else
                {
                    throw new InvalidOperationException("The progress sink failed.");
                }
            }
        });

        Assert.That(() => RwkvExporter.Export(RuntimeReliabilityModels.Checkpoint, _output, new ExportOptions(), progress, cts.Token),
            viaToken ? Throws.InstanceOf<OperationCanceledException>() : Throws.InvalidOperationException.With.Message.EqualTo("The progress sink failed."));
        Assert.That(interrupted, Is.True, "the interruption point was never reached");
        Assert.That(Directory.GetFileSystemEntries(_work), Is.Empty, "neither the output nor a temporary directory may remain");
    }

    [Test]
    public void Export_Overwrite_ReplacesTheWholeDirectory_WithoutLeftovers()
    {
        RwkvExporter.Export(RuntimeReliabilityModels.Checkpoint, _output, new ExportOptions { WeightDType = WeightDType.Float16 });
        File.WriteAllText(Path.Combine(_output, "notes.txt"), "from the old export");
        long oldWeights = new FileInfo(Path.Combine(_output, RwkvContract.WeightsFile)).Length;

        RwkvManifest manifest = RwkvExporter.Export(RuntimeReliabilityModels.Checkpoint, _output, new ExportOptions { Overwrite = true });

        Assert.That(Directory.GetFileSystemEntries(_work).Select(Path.GetFileName), Is.EqualTo(new[] { "model" }), "no .partial- or .replaced- sibling");
        Assert.That(Directory.GetFiles(_output).Select(Path.GetFileName), Is.EquivalentTo(new[]
        {
            RwkvContract.ManifestFile, RwkvContract.StepGraphFile, RwkvContract.PrefillGraphFile, RwkvContract.WeightsFile,
        }), "old files must not be mixed with new ones");
        byte[] weights = File.ReadAllBytes(Path.Combine(_output, RwkvContract.WeightsFile));
        Assert.That(weights.LongLength, Is.GreaterThan(oldWeights), "the fp32 weights replace the fp16 ones");
        Assert.That(Convert.ToHexStringLower(SHA256.HashData(weights)), Is.EqualTo(manifest.Weights.Sha256));
        using RwkvModel model = RwkvModel.Load(_output, new RwkvModelOptions { VerifyChecksums = true });
        Assert.That(model.Manifest.WeightDType, Is.EqualTo("fp32"));
    }

    [Test]
    public void Export_ExistingOutputWithoutOverwrite_ThrowsIOExceptionNamingThePath_AndKeepsIt()
    {
        Directory.CreateDirectory(_output);
        File.WriteAllText(Path.Combine(_output, "keep.txt"), "keep");

        Assert.That(() => RwkvExporter.Export(RuntimeReliabilityModels.Checkpoint, _output, new ExportOptions()),
            Throws.TypeOf<IOException>().With.Message.Contain(_output));
        Assert.That(File.ReadAllText(Path.Combine(_output, "keep.txt")), Is.EqualTo("keep"));
        Assert.That(Directory.GetFileSystemEntries(_work), Has.Length.EqualTo(1));
    }

    [Test]
    public void KilledExportLeftovers_NeverLoad_AndTheNextExportDeletesThoseOfDeadProcesses()
    {
        // What a process killed mid-export leaves: the manifest is written last, so a partial directory has none.
        string partial = Path.Combine(_work, $".model.partial-{DeadProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(partial);
        foreach (string file in new[] { RwkvContract.StepGraphFile, RwkvContract.PrefillGraphFile, RwkvContract.WeightsFile })
        {
            File.Copy(Path.Combine(RuntimeReliabilityModels.Tiny7, file), Path.Combine(partial, file));
        }
        // What a process killed between the two renames of an overwrite leaves: the old model, renamed aside.
        string replaced = Path.Combine(_work, $".model.replaced-{DeadProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(replaced);
        File.WriteAllText(Path.Combine(replaced, "old.txt"), "old");
        // A sibling owned by a live process (this one) is another export in progress and must survive.
        string live = Path.Combine(_work, $".model.partial-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(live);
        // Another model's leftovers are not this export's business.
        string otherName = Path.Combine(_work, $".other.partial-{DeadProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(otherName);

        Assert.That(() => RwkvModel.Load(partial),
            Throws.TypeOf<ModelContractException>().With.Message.Contain("is not an exported RWKV model directory"));

        RwkvExporter.Export(RuntimeReliabilityModels.Checkpoint, _output, new ExportOptions());

        Assert.That(Directory.Exists(partial), Is.False);
        Assert.That(Directory.Exists(replaced), Is.False);
        Assert.That(Directory.Exists(live), Is.True);
        Assert.That(Directory.Exists(otherName), Is.True);
        using RwkvModel model = RwkvModel.Load(_output);
        Assert.That(model.VocabSize, Is.EqualTo(256));
    }

    [Test]
    public void Export_ProcessKilledMidway_LeavesNothingThatLoads_AndTheNextExportCleansUp()
    {
        // A real kill: `rwkv-onnx export` in a child process, killed as soon as its temporary directory appears.
        string cli = Path.Combine(AppContext.BaseDirectory, "rwkv-onnx.dll");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in new[] { cli, "export", RuntimeReliabilityModels.Checkpoint, "--output", _output })
        {
            start.ArgumentList.Add(argument);
        }
        using Process child = Process.Start(start)!; // Start with a file name returns a process or throws
        string prefix = $".model.partial-{child.Id}-";
        var clock = Stopwatch.StartNew();
        while (!child.HasExited && !Directory.EnumerateDirectories(_work, prefix + "*").Any() && clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            Thread.Sleep(1);
        }
        bool killed = !child.HasExited;
        child.Kill(entireProcessTree: true);
        child.WaitForExit();
        if (!killed)
        {
            Assert.Inconclusive($"The child export ended (exit code {child.ExitCode}) before it could be killed.");
        }

        // Whatever the kill left either loads completely or is refused; here it cannot have reached the rename.
        Assert.That(Directory.Exists(_output), Is.False, "the output appeared although the export was killed before finishing");
        string[] leftovers = Directory.GetDirectories(_work, prefix + "*");
        Assert.That(leftovers, Has.Length.EqualTo(1));
        Assert.That(() => RwkvModel.Load(leftovers[0]), Throws.TypeOf<ModelContractException>());

        RwkvExporter.Export(RuntimeReliabilityModels.Checkpoint, _output, new ExportOptions());

        Assert.That(Directory.GetFileSystemEntries(_work).Select(Path.GetFileName), Is.EqualTo(new[] { "model" }));
        using RwkvModel model = RwkvModel.Load(_output, new RwkvModelOptions { VerifyChecksums = true });
        Assert.That(model.VocabSize, Is.EqualTo(256));
    }

    [Test]
    public void MoveIntoPlace_SecondRenameFails_RestoresTheOldOutput()
    {
        Directory.CreateDirectory(_output);
        File.WriteAllText(Path.Combine(_output, "old.txt"), "old");
        string missingTemporary = Path.Combine(_work, ".model.partial-gone");

        Assert.That(() => RwkvExporter.MoveIntoPlace(missingTemporary, _output, overwrite: true), Throws.InstanceOf<IOException>());

        Assert.That(File.ReadAllText(Path.Combine(_output, "old.txt")), Is.EqualTo("old"));
        Assert.That(Directory.GetFileSystemEntries(_work).Select(Path.GetFileName), Is.EqualTo(new[] { "model" }));
    }

    [Test]
    public void MoveIntoPlace_OutputFileIsReplaced_AndOutputAppearingWithoutOverwriteIsKept()
    {
        string temporary = Path.Combine(_work, ".model.partial-1");
        Directory.CreateDirectory(temporary);
        File.WriteAllText(Path.Combine(temporary, "new.txt"), "new");
        File.WriteAllText(_output, "a file where the model goes");

        Assert.That(() => RwkvExporter.MoveIntoPlace(temporary, _output, overwrite: false),
            Throws.TypeOf<IOException>().With.Message.Contain(_output));
        Assert.That(File.ReadAllText(_output), Is.EqualTo("a file where the model goes"));

        RwkvExporter.MoveIntoPlace(temporary, _output, overwrite: true);

        Assert.That(File.ReadAllText(Path.Combine(_output, "new.txt")), Is.EqualTo("new"));
        Assert.That(Directory.GetFileSystemEntries(_work).Select(Path.GetFileName), Is.EqualTo(new[] { "model" }));
    }

    /// <summary>Reports synchronously (Progress&lt;T&gt; posts to the thread pool).</summary>
    private sealed class SyncProgress(Action<ExportProgress> report) : IProgress<ExportProgress>
    {
        public void Report(ExportProgress value) => report(value);
    }
}
