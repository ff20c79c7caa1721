using System.Security.Cryptography;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Cli;

/// <summary>
/// <c>export --force</c> never deletes what the user made: the checkpoint it reads, an unrelated directory, the current or
/// home directory. Each case runs on real files and directories and checks that every byte is still there.
/// </summary>
public sealed partial class CliTests
{
    [Test]
    public void Export_OutputIsTheCheckpointFile_IsRefused_AndTheCheckpointSurvives()
    {
        string checkpoint = CopyInto(_work, SharedFixtures.RwkvCppModel(Model, "FP32"));
        string hash = HashTree(_work);

        CliRun run = Run("export", checkpoint, "-o", checkpoint, "--force");

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(2), run.Stderr);
            Assert.That(run.Stderr, Is.EqualTo($"error: --output: '{checkpoint}' is an input of this export; choose another directory.{Environment.NewLine}"));
            Assert.That(HashTree(_work), Is.EqualTo(hash), "the checkpoint and its directory are untouched");
        });
    }

    [Test]
    public void Export_OutputIsTheHuggingFaceDirectory_OrInsideIt_IsRefused_AndTheDirectorySurvives()
    {
        string hf = Path.Combine(_work, "rwkv-4-hf");
        Directory.CreateDirectory(hf);
        foreach (string file in Directory.GetFiles(Path.Combine(SharedFixtures.FixturesDirectory, "hf", "rwkv-4-tiny-660K")))
        {
            CopyInto(hf, file);
        }
        string hash = HashTree(_work);

        CliRun same = Run("export", hf, "-o", hf, "--force");
        CliRun inside = Run("export", hf, "-o", Path.Combine(hf, "onnx"));
        CliRun viaDots = Run("export", hf, "-o", Path.Combine(hf, "..", "rwkv-4-hf", "onnx"));

        Assert.Multiple(() =>
        {
            Assert.That(same.ExitCode, Is.EqualTo(2), same.Stderr);
            Assert.That(same.Stderr, Does.Contain("is an input of this export"));
            Assert.That(inside.ExitCode, Is.EqualTo(2), inside.Stderr);
            Assert.That(inside.Stderr, Does.Contain("is inside").And.Contain(hf));
            Assert.That(viaDots.ExitCode, Is.EqualTo(2), viaDots.Stderr);
            Assert.That(HashTree(_work), Is.EqualTo(hash));
        });
    }

    [Test]
    public void Export_OutputHoldingTheCheckpoint_ThroughASymbolicLink_IsRefused()
    {
        string data = Directory.CreateDirectory(Path.Combine(_work, "data")).FullName;
        string checkpoint = CopyInto(data, SharedFixtures.RwkvCppModel(Model, "FP32"));
        string link = Path.Combine(_work, "link-to-data");
        Directory.CreateSymbolicLink(link, data);
        string hash = HashTree(data);

        CliRun run = Run("export", checkpoint, "-o", link, "--force");
        CliRun linkedFile = Run("export", Path.Combine(link, Path.GetFileName(checkpoint)), "-o", data, "--force");

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(2), run.Stderr);
            Assert.That(run.Stderr, Does.Contain("contains").And.Contain(checkpoint));
            Assert.That(linkedFile.ExitCode, Is.EqualTo(2), linkedFile.Stderr);
            Assert.That(Directory.Exists(link) && new DirectoryInfo(link).LinkTarget is not null, Is.True, "the link is untouched");
            Assert.That(HashTree(data), Is.EqualTo(hash));
        });
    }

    [Test]
    public void Export_ForceOverAnUnrelatedDirectory_IsRefusedNamingWhatIsInTheWay_AndTouchesNothing()
    {
        string output = Directory.CreateDirectory(Path.Combine(_work, "stuff")).FullName;
        File.WriteAllText(Path.Combine(output, "notes.txt"), "my notes");
        Directory.CreateDirectory(Path.Combine(output, "photos"));
        File.WriteAllBytes(Path.Combine(output, "photos", "cat.jpg"), [1, 2, 3]);
        string hash = HashTree(_work);

        CliRun run = Run("export", SharedFixtures.RwkvCppModel(Model, "FP32"), "-o", output, "--force");

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(2), run.Stderr);
            Assert.That(run.Stderr, Does.StartWith("error: --output: ").And.Contain("'notes.txt'").And.Contain("'photos/'").And.Contain("nothing was touched"));
            Assert.That(HashTree(_work), Is.EqualTo(hash));
        });
    }

    [Test]
    public void Export_ForceOverAnEarlierExportWithAnExtraFile_IsRefused()
    {
        string output = Path.Combine(_work, "model");
        Assert.That(Run("export", SharedFixtures.RwkvCppModel(Model, "FP32"), "-o", output).ExitCode, Is.Zero);
        File.WriteAllText(Path.Combine(output, "README.txt"), "how I made this");
        string hash = HashTree(_work);

        CliRun run = Run("export", SharedFixtures.RwkvCppModel(Model, "FP32"), "-o", output, "--force", "--dtype", "fp16");

        Assert.That(run.ExitCode, Is.EqualTo(2), run.Stderr);
        Assert.That(run.Stderr, Does.Contain("'README.txt'"));
        Assert.That(HashTree(_work), Is.EqualTo(hash));
    }

    [Test]
    public void Export_ForceOverAFile_IsRefused()
    {
        string output = Path.Combine(_work, "notes.txt");
        File.WriteAllText(output, "my notes");

        CliRun run = Run("export", SharedFixtures.RwkvCppModel(Model, "FP32"), "-o", output, "--force");

        Assert.That(run.ExitCode, Is.EqualTo(2), run.Stderr);
        Assert.That(run.Stderr, Does.Contain("it is a file"));
        Assert.That(File.ReadAllText(output), Is.EqualTo("my notes"));
    }

    [Test]
    public void Export_ExistingOutput_SuggestsAnotherDirectory_AndForceOnlyForAnEarlierExport()
    {
        string unrelated = Directory.CreateDirectory(Path.Combine(_work, "stuff")).FullName;
        File.WriteAllText(Path.Combine(unrelated, "notes.txt"), "my notes");
        string export = Path.Combine(_work, "model");
        Assert.That(Run("export", SharedFixtures.RwkvCppModel(Model, "FP32"), "-o", export).ExitCode, Is.Zero);

        CliRun overUnrelated = Run("export", SharedFixtures.RwkvCppModel(Model, "FP32"), "-o", unrelated);
        CliRun overExport = Run("export", SharedFixtures.RwkvCppModel(Model, "FP32"), "-o", export);

        Assert.Multiple(() =>
        {
            Assert.That(overUnrelated.ExitCode, Is.EqualTo(2));
            Assert.That(overUnrelated.Stderr, Does.Contain("choose another directory").And.Not.Contain("--force"));
            Assert.That(overExport.ExitCode, Is.EqualTo(2));
            Assert.That(overExport.Stderr, Does.Contain("earlier export; choose another directory, or pass --force"));
        });
    }

    [TestCase("current")]
    [TestCase("home")]
    [TestCase("parent of current")]
    public void Export_ForceOverTheCurrentOrHomeDirectory_IsRefused(string which)
    {
        // A child process, so that its current and home directories can be scratch ones: on a broken build this test
        // wipes nothing but them.
        string home = Directory.CreateDirectory(Path.Combine(_work, "home")).FullName;
        string current = Directory.CreateDirectory(Path.Combine(_work, "project")).FullName;
        File.WriteAllText(Path.Combine(current, "work.txt"), "my work");
        File.WriteAllText(Path.Combine(home, ".profile"), "my profile");
        string checkpoint = CopyInto(_work, SharedFixtures.RwkvCppModel(Model, "FP32"));
        string output = which switch { "current" => ".", "home" => home, _ => ".." };
        string hash = HashTree(_work);

        ChildProcess.Result run = ChildProcess.Run("dotnet", [Path.Combine(AppContext.BaseDirectory, "rwkv-onnx.dll"), "export", checkpoint, "-o", output, "--force"],
            TimeSpan.FromMinutes(3), workingDirectory: current, environment: new Dictionary<string, string> { ["HOME"] = home });

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(2), run.ToString());
            Assert.That(run.StandardError, Does.StartWith("error: --output: ").And.Contain(which == "home" ? "the home directory" : "the current directory"));
            Assert.That(HashTree(_work), Is.EqualTo(hash));
        });
    }

    [Test]
    public void Export_RemovesStaleLeftoversOfKilledExportsInTheSameDirectory_AndSaysSo()
    {
        string stale = Path.Combine(_work, $".other-model.partial-2000000000-{Guid.NewGuid():N}");
        Directory.CreateDirectory(stale);
        File.WriteAllBytes(Path.Combine(stale, "weights.onnx.data"), new byte[2048]);

        CliRun run = Run("export", SharedFixtures.RwkvCppModel(Model, "FP32"), "-o", Path.Combine(_work, "model"));

        Assert.That(run.ExitCode, Is.Zero, run.Stderr);
        Assert.That(run.Stderr, Does.Contain($"note: removed '{stale}' (2.0 KiB), left by export process 2000000000, which is no longer running."));
        Assert.That(Directory.Exists(stale), Is.False);
    }

    [Test]
    public void Logits_OutIsAFileOfTheModel_IsRefused_AndTheModelStillLoads()
    {
        string model = Path.Combine(_work, "model");
        Assert.That(Run("export", SharedFixtures.RwkvCppModel(Model, "FP32"), "-o", model).ExitCode, Is.Zero);
        string hash = HashTree(_work);

        CliRun run = Run("logits", model, "--tokens", "1,2", "--out", Path.Combine(model, RwkvContract.WeightsFile));

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(2), run.Stderr);
            Assert.That(run.Stderr, Does.StartWith("error: --out: ").And.Contain("is a file this command reads"));
            Assert.That(HashTree(_work), Is.EqualTo(hash));
        });
        using RwkvModel loaded = RwkvModel.Load(model, new RwkvModelOptions { VerifyChecksums = true });
    }

    [Test]
    public void LogitsAndRandomCheckpoint_OutputIsAPipe_AreRefused_AndThePipeStays()
    {
        Assume.That(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS(), "named pipes");
        string pipe = NamedPipe.Create(Path.Combine(_work, "pipe")); // like /dev/null, and harmless if replaced

        CliRun logits = Run("logits", _model, "--tokens", "1,2", "--out", pipe);
        CliRun random = Run("random-checkpoint", "--version", "7", "--layers", "2", "--embd", "64", "--vocab", "256", "-o", pipe, "--force");

        Assert.Multiple(() =>
        {
            Assert.That(logits.ExitCode, Is.EqualTo(2), logits.Stderr);
            Assert.That(logits.Stderr, Does.Contain($"--out: '{pipe}' is not a regular file"));
            Assert.That(random.ExitCode, Is.EqualTo(2), random.Stderr);
            Assert.That(random.Stderr, Does.Contain($"--output: '{pipe}' is not a regular file"));
            Assert.That(NamedPipe.IsStillThere(pipe), Is.True, "still a pipe");
            Assert.That(Directory.GetFileSystemEntries(_work), Has.Length.EqualTo(1), "no temporary file");
        });
    }

    [Test]
    public void RandomCheckpoint_KeepsAUserFileNamedLikeItsOldTemporary()
    {
        string output = Path.Combine(_work, "x.bin");
        File.WriteAllText(output + ".partial", "mine"); // the name the command used to write to, and delete, on the way

        CliRun run = Run("random-checkpoint", "--version", "7", "--layers", "2", "--embd", "64", "--vocab", "256", "-o", output);

        Assert.That(run.ExitCode, Is.Zero, run.Stderr);
        Assert.That(File.ReadAllText(output + ".partial"), Is.EqualTo("mine"));
        Assert.That(Directory.GetFileSystemEntries(_work).Select(Path.GetFileName), Is.EquivalentTo(new[] { "x.bin", "x.bin.partial" }));
    }

    private static string CopyInto(string directory, string file)
    {
        string target = Path.Combine(directory, Path.GetFileName(file));
        File.Copy(file, target);
        return target;
    }

    // SHA-256 over every path, kind and file content below `root`, following no links.
    private static string HashTree(string root)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (FileSystemInfo entry in new DirectoryInfo(root).EnumerateFileSystemInfos("*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 })
            .OrderBy(e => e.FullName, StringComparer.Ordinal))
        {
            hash.AppendData(System.Text.Encoding.UTF8.GetBytes($"{entry.FullName}|{entry.LinkTarget}|{entry is DirectoryInfo}\n"));
            if (entry is FileInfo { LinkTarget: null } file)
            {
                hash.AppendData(File.ReadAllBytes(file.FullName));
            }
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }
}
