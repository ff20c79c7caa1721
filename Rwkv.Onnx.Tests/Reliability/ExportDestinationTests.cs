using Rwkv.Onnx.Export;
using Rwkv.Onnx.Export.Output;

namespace Rwkv.Onnx.Tests.Reliability;

/// <summary>Where an export may go: path resolution, protected directories, concurrent exports, created parents.</summary>
[TestFixture]
public sealed class ExportDestinationTests
{
    private string _work = "";

    [SetUp]
    public void SetUp() => _work = RuntimeReliabilityModels.CreateTemporaryDirectory();

    [Test]
    public void RealPath_ResolvesEveryLink_AsTheFileApisAndTheKernelDo()
    {
        string deep = Directory.CreateDirectory(Path.Combine(_work, "a", "b")).FullName;
        string link = Path.Combine(_work, "link");
        Directory.CreateSymbolicLink(link, deep);
        File.CreateSymbolicLink(Path.Combine(_work, "relative"), Path.Combine("a", "b", ".."));

        Assert.Multiple(() =>
        {
            Assert.That(RealPath.Resolve(link), Is.EqualTo(deep));
            // A path as given is normalised as .NET's file APIs take it (link/.. is the link's directory)...
            Assert.That(RealPath.Resolve(Path.Combine(link, "..", "x")), Is.EqualTo(Path.Combine(_work, "x")));
            Assert.That(Directory.Exists(Path.Combine(link, "..", "a")), Is.True, ".NET agrees: link/../a is _work/a");
            // ...while a link's target is resolved as the kernel does: relative to the link, .. after the links before it.
            Assert.That(RealPath.Resolve(Path.Combine(_work, "relative", "new", "dirs")), Is.EqualTo(Path.Combine(_work, "a", "new", "dirs")));
            Assert.That(RealPath.Resolve(Path.Combine(_work, "relative", "b")), Is.EqualTo(deep));
        });
    }

    [Test]
    public void RealPath_LinkCycle_IsAnIOException()
    {
        File.CreateSymbolicLink(Path.Combine(_work, "loop1"), Path.Combine(_work, "loop2"));
        File.CreateSymbolicLink(Path.Combine(_work, "loop2"), Path.Combine(_work, "loop1"));

        Assert.That(() => RealPath.Resolve(Path.Combine(_work, "loop1", "x")), Throws.TypeOf<IOException>().With.Message.Contain("symbolic links"));
    }

    [Test]
    public void CheckNotProtected_RefusesTheRoot_AlsoThroughALink()
    {
        string root = Path.GetPathRoot(_work)!;
        string link = Path.Combine(_work, "root-link");
        Directory.CreateSymbolicLink(link, root);

        foreach (string output in new[] { root, link, Path.Combine(_work, "..", "..", "..", "..", "..", "..", "..", "..") })
        {
            Assert.That(() => new ExportDestination(output).CheckNotProtected(),
                Throws.TypeOf<ExportOutputException>().With.Property(nameof(ExportOutputException.Conflict)).EqualTo(ExportOutputConflict.ProtectedDirectory),
                output);
        }
        Assert.That(() => new ExportDestination(Path.Combine(_work, "model")).CheckNotProtected(), Throws.Nothing);
    }

    [Test]
    public void Export_WhileAnotherExportToTheSameOutputRuns_FailsClearly_AndTheFirstOneFinishes()
    {
        string output = Path.Combine(_work, "model");
        using var firstIsWriting = new ManualResetEventSlim();
        using var secondHasTried = new ManualResetEventSlim();
        var first = Task.Run(() => RwkvExporter.Export(RuntimeReliabilityModels.Checkpoint, output, new ExportOptions { Overwrite = true },
            new BlockingProgress(firstIsWriting, secondHasTried)));
        Assert.That(firstIsWriting.Wait(TimeSpan.FromSeconds(60)), Is.True, "the first export never started writing");

        ExportOutputException? refused = null;
        try
        {
            RwkvExporter.Export(RuntimeReliabilityModels.Checkpoint, output, new ExportOptions { Overwrite = true });
        }
        catch (ExportOutputException e)
        {
            refused = e;
        }
        finally
        {
            secondHasTried.Set();
        }
        RwkvManifest manifest = first.GetAwaiter().GetResult();

        Assert.That(refused, Is.Not.Null, "the second export ran alongside the first");
        Assert.That(refused!.Conflict, Is.EqualTo(ExportOutputConflict.ExportInProgress));
        Assert.That(refused.Message, Does.Contain("Another export to").And.Contain(output).And.Contain($"process {Environment.ProcessId}"));
        Assert.That(Directory.GetFileSystemEntries(_work).Select(Path.GetFileName), Is.EqualTo(new[] { "model" }), "the refused export left nothing");
        using RwkvModel model = RwkvModel.Load(output, new RwkvModelOptions { VerifyChecksums = true });
        Assert.That(model.Manifest.Weights.Sha256, Is.EqualTo(manifest.Weights.Sha256));
    }

    [Test]
    public void Export_FailingIntoMissingParents_RemovesTheParentsItCreated()
    {
        string output = Path.Combine(_work, "new", "nested", "model");

        Assert.That(() => RwkvExporter.Export(RuntimeReliabilityModels.Checkpoint, output, new ExportOptions(),
            new BlockingProgress(onFirst: () => throw new InvalidOperationException("stop"))), Throws.InvalidOperationException);

        Assert.That(Directory.GetFileSystemEntries(_work), Is.Empty);
    }

    /// <summary>On the first report, signals and waits (or runs an action); later reports pass.</summary>
    private sealed class BlockingProgress(ManualResetEventSlim? started = null, ManualResetEventSlim? release = null, Action? onFirst = null) : IProgress<ExportProgress>
    {
        private int _reports;

        public void Report(ExportProgress value)
        {
            if (Interlocked.Increment(ref _reports) != 1)
            {
                return;
            }
            onFirst?.Invoke();
            started?.Set();
            release?.Wait(TimeSpan.FromSeconds(60));
        }
    }
}
