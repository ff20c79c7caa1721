using System.Diagnostics;
using System.Security.Cryptography;
using Rwkv.Onnx.Exceptions;
using Rwkv.Onnx.Export;
using Rwkv.Onnx.Export.Output;

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
    public void Export_Overwrite_ReplacesTheWholeEarlierExport_WithoutLeftovers()
    {
        RwkvExporter.Export(RuntimeReliabilityModels.Checkpoint, _output, new ExportOptions { WeightDType = WeightDType.Float16 });
        long oldWeights = new FileInfo(Path.Combine(_output, RwkvContract.WeightsFile)).Length;

        RwkvManifest manifest = RwkvExporter.Export(RuntimeReliabilityModels.Checkpoint, _output, new ExportOptions { Overwrite = true });

        Assert.That(Directory.GetFileSystemEntries(_work).Select(Path.GetFileName), Is.EqualTo(new[] { "model" }), "no .partial- or .replaced- sibling");
        Assert.That(Directory.GetFiles(_output).Select(Path.GetFileName), Is.EquivalentTo(new[]
        {
            RwkvContract.ManifestFile, RwkvContract.StepGraphFile, RwkvContract.PrefillGraphFile, RwkvContract.StateCopyGraphFile, RwkvContract.WeightsFile,
        }));
        byte[] weights = File.ReadAllBytes(Path.Combine(_output, RwkvContract.WeightsFile));
        Assert.That(weights.LongLength, Is.GreaterThan(oldWeights), "the fp32 weights replace the fp16 ones");
        Assert.That(Convert.ToHexStringLower(SHA256.HashData(weights)), Is.EqualTo(manifest.Weights.Sha256));
        using RwkvModel model = RwkvModel.Load(_output, new RwkvModelOptions { VerifyChecksums = true });
        Assert.That(model.Manifest.WeightDType, Is.EqualTo("fp32"));
    }

    [Test]
    public void Export_OverwriteOfAFormatVersion1Export_ReplacesIt()
    {
        // What the runtime's "re-export" error leads to: a directory written by an older rwkv-onnx, whose manifest this
        // version refuses to load, is still recognised as an earlier export and replaced.
        RwkvExporter.Export(RuntimeReliabilityModels.Checkpoint, _output, new ExportOptions());
        string manifestPath = Path.Combine(_output, RwkvContract.ManifestFile);
        File.WriteAllText(manifestPath, File.ReadAllText(manifestPath).Replace($"\"format_version\": {RwkvContract.FormatVersion}", "\"format_version\": 1", StringComparison.Ordinal));
        File.Delete(Path.Combine(_output, RwkvContract.StateCopyGraphFile)); // version 1 had none
        Assert.That(() => RwkvModel.Load(_output), Throws.TypeOf<ModelContractException>().With.Message.Contain("Re-export"));

        RwkvExporter.Export(RuntimeReliabilityModels.Checkpoint, _output, new ExportOptions { Overwrite = true });

        using RwkvModel model = RwkvModel.Load(_output);
        Assert.That(model.Manifest.FormatVersion, Is.EqualTo(RwkvContract.FormatVersion));
    }

    [Test]
    public void Export_OverwriteOfAFormatVersion1ExportWithAForeignFile_IsRefused()
    {
        RwkvExporter.Export(RuntimeReliabilityModels.Checkpoint, _output, new ExportOptions());
        string manifestPath = Path.Combine(_output, RwkvContract.ManifestFile);
        File.WriteAllText(manifestPath, File.ReadAllText(manifestPath).Replace($"\"format_version\": {RwkvContract.FormatVersion}", "\"format_version\": 1", StringComparison.Ordinal));
        File.WriteAllText(Path.Combine(_output, "notes.txt"), "mine");

        Assert.That(() => RwkvExporter.Export(RuntimeReliabilityModels.Checkpoint, _output, new ExportOptions { Overwrite = true }),
            Throws.TypeOf<ExportOutputException>().With.Message.Contain("notes.txt"));
        Assert.That(File.ReadAllText(Path.Combine(_output, "notes.txt")), Is.EqualTo("mine"));
    }

    [Test]
    public void Export_ExistingOutputWithoutOverwrite_ThrowsNamingThePath_AndKeepsIt()
    {
        Directory.CreateDirectory(_output);
        File.WriteAllText(Path.Combine(_output, "keep.txt"), "keep");

        Assert.That(() => RwkvExporter.Export(RuntimeReliabilityModels.Checkpoint, _output, new ExportOptions()),
            Throws.TypeOf<ExportOutputException>().With.Message.Contain(_output)
                .And.Property(nameof(ExportOutputException.Conflict)).EqualTo(ExportOutputConflict.Exists)
                .And.Property(nameof(ExportOutputException.IsEarlierExport)).False);
        Assert.That(File.ReadAllText(Path.Combine(_output, "keep.txt")), Is.EqualTo("keep"));
        Assert.That(Directory.GetFileSystemEntries(_work), Has.Length.EqualTo(1));
    }

    [Test]
    public void KilledExportLeftovers_NeverLoad_AndTheNextExportInTheDirectoryDeletesThoseOfDeadProcesses()
    {
        // What a process killed mid-export leaves: the manifest is written last, so a partial directory has none.
        string partial = Path.Combine(_work, $".model.partial-{DeadProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(partial);
        foreach (string file in new[] { RwkvContract.StepGraphFile, RwkvContract.PrefillGraphFile, RwkvContract.WeightsFile })
        {
            File.Copy(Path.Combine(RuntimeReliabilityModels.Tiny7, file), Path.Combine(partial, file));
        }
        // Another output's leftovers in the same directory go too: nothing else would ever remove them.
        string otherName = Path.Combine(_work, $".other.partial-{DeadProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(otherName);
        File.WriteAllBytes(Path.Combine(otherName, RwkvContract.WeightsFile), new byte[1000]);
        // A sibling owned by a live process (this one) is another export in progress and must survive.
        string live = Path.Combine(_work, $".other.partial-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(live);
        // Named like a leftover but holding what an export never writes (a directory): not ours to delete.
        string foreign = Path.Combine(_work, $".photos.partial-{DeadProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path.Combine(foreign, "2024"));

        Assert.That(() => RwkvModel.Load(partial),
            Throws.TypeOf<ModelContractException>().With.Message.Contain("is not an exported RWKV model directory"));

        IReadOnlyList<ExportLeftover> cleaned = RwkvExporter.CleanUpLeftovers(_output);
        Assert.That(cleaned.Select(l => (l.Path, l.ProcessId, l.RestoredTo)), Is.EquivalentTo(new[]
        {
            (partial, DeadProcessId, (string?)null), (otherName, DeadProcessId, (string?)null),
        }));
        Assert.That(cleaned.Single(l => l.Path == otherName).Bytes, Is.EqualTo(1000));

        RwkvExporter.Export(RuntimeReliabilityModels.Checkpoint, _output, new ExportOptions());

        Assert.That(Directory.GetFileSystemEntries(_work).Select(Path.GetFileName), Is.EquivalentTo(new[]
        {
            "model", Path.GetFileName(live), Path.GetFileName(foreign),
        }));
        using RwkvModel model = RwkvModel.Load(_output);
        Assert.That(model.VocabSize, Is.EqualTo(256));
    }

    [Test]
    public void KilledOverwriteLeftover_IsRenamedBackWhenItsNameIsFree_AndDeletedWhenTheNewExportTookItsPlace()
    {
        // A process killed between the two renames of an overwrite leaves the earlier export aside and no output.
        string aside = Path.Combine(_work, $".model.replaced-{DeadProcessId}-{Guid.NewGuid():N}");
        CopyFlat(RuntimeReliabilityModels.Tiny7Fp16, aside);

        IReadOnlyList<ExportLeftover> restored = RwkvExporter.CleanUpLeftovers(_output);

        Assert.That(restored, Has.Count.EqualTo(1));
        Assert.That(restored[0].RestoredTo, Is.EqualTo(_output));
        Assert.That(Directory.GetFileSystemEntries(_work).Select(Path.GetFileName), Is.EqualTo(new[] { "model" }));
        Assert.That(RwkvManifest.Load(_output).WeightDType, Is.EqualTo("fp16"), "the earlier export is back under its name");

        // Killed after the second rename: the new export is in place and the old one is still aside.
        CopyFlat(RuntimeReliabilityModels.Tiny7, aside);
        IReadOnlyList<ExportLeftover> deleted = RwkvExporter.CleanUpLeftovers(_output);

        Assert.That(deleted.Select(l => (l.Path, l.RestoredTo)), Is.EqualTo(new[] { (aside, (string?)null) }));
        Assert.That(Directory.GetFileSystemEntries(_work).Select(Path.GetFileName), Is.EqualTo(new[] { "model" }));
        Assert.That(RwkvManifest.Load(_output).WeightDType, Is.EqualTo("fp16"), "the output in place is kept");
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
    public void Commit_SecondRenameFails_RestoresTheEarlierExport()
    {
        CopyFlat(RuntimeReliabilityModels.Tiny7, _output);
        string missingTemporary = Path.Combine(_work, ".model.partial-gone");

        Assert.That(() => new ExportDestination(_output).Commit(missingTemporary, overwrite: true), Throws.InstanceOf<IOException>());

        Assert.That(Directory.GetFileSystemEntries(_work).Select(Path.GetFileName), Is.EqualTo(new[] { "model" }));
        using RwkvModel model = RwkvModel.Load(_output, new RwkvModelOptions { VerifyChecksums = true });
    }

    [Test]
    public void Commit_OutputThatAppearedOrChangedDuringTheExport_IsKept()
    {
        var destination = new ExportDestination(_output);
        string temporary = destination.CreateTemporary();
        File.WriteAllText(_output, "a file that appeared where the model goes");

        Assert.That(() => destination.Commit(temporary, overwrite: false),
            Throws.TypeOf<ExportOutputException>().With.Message.Contain(_output).And.Property(nameof(ExportOutputException.Conflict)).EqualTo(ExportOutputConflict.Exists));
        Assert.That(() => destination.Commit(temporary, overwrite: true),
            Throws.TypeOf<ExportOutputException>().With.Property(nameof(ExportOutputException.Conflict)).EqualTo(ExportOutputConflict.NotAnExport));
        Assert.That(File.ReadAllText(_output), Is.EqualTo("a file that appeared where the model goes"));

        File.Delete(_output);
        CopyFlat(RuntimeReliabilityModels.Tiny7, _output);
        File.WriteAllText(Path.Combine(_output, "notes.txt"), "written while the export ran");
        Assert.That(() => destination.Commit(temporary, overwrite: true),
            Throws.TypeOf<ExportOutputException>().With.Message.Contain("'notes.txt'"));
        Assert.That(File.ReadAllText(Path.Combine(_output, "notes.txt")), Is.EqualTo("written while the export ran"));
        destination.Abandon(temporary);
        Assert.That(Directory.GetFileSystemEntries(_work).Select(Path.GetFileName), Is.EqualTo(new[] { "model" }));
    }

    private static void CopyFlat(string source, string target)
    {
        Directory.CreateDirectory(target);
        foreach (string file in Directory.GetFiles(source))
        {
            File.Copy(file, Path.Combine(target, Path.GetFileName(file)), overwrite: true);
        }
    }

    /// <summary>Reports synchronously (Progress&lt;T&gt; posts to the thread pool).</summary>
    private sealed class SyncProgress(Action<ExportProgress> report) : IProgress<ExportProgress>
    {
        public void Report(ExportProgress value) => report(value);
    }
}
