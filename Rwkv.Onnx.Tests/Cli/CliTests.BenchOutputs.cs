using Rwkv.Onnx.Cli;
using Rwkv.Onnx.Cli.Output;

using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Cli;

/// <summary>
/// bench checks every output path before the first measurement and writes its outputs all or none (issue 16 item 5);
/// the write itself, failing part-way, is tested in <see cref="OutputFilesTests"/>.
/// </summary>
public sealed partial class CliTests
{
    private static void AssertOneErrorLineAndNoMeasurement(CliRun run, int exitCode)
    {
        Assert.That(run.ExitCode, Is.EqualTo(exitCode), run.Stderr);
        string[] lines = run.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines.Count(line => line.StartsWith("error: ", StringComparison.Ordinal)), Is.EqualTo(1), run.Stderr);
        Assert.That(run.Stderr, Does.Not.Contain("bench: ").And.Not.Contain("   at "), "refused before the first measurement, without a stack trace");
        Assert.That(run.Stdout, Is.Empty);
    }

    [Test]
    public void Bench_JsonInMissingDirectory_FailsBeforeMeasuring()
    {
        string missing = Path.Combine(_work, "no-such-folder");
        string markdown = Path.Combine(_work, "table.md");

        CliRun run = Run(BenchArgs("--markdown", markdown, "--json", Path.Combine(missing, "bench.json")));

        AssertOneErrorLineAndNoMeasurement(run, ExitCodes.Failure);
        Assert.That(run.Stderr, Does.Contain("--json").And.Contain($"'{missing}'").And.Contain("does not exist"));
        Assert.That(File.Exists(markdown), Is.False);
    }

    [Test]
    public void Bench_OutputIsADirectory_IsUsageErrorBeforeMeasuring()
    {
        CliRun run = Run(BenchArgs("--chart", _work));

        AssertOneErrorLineAndNoMeasurement(run, ExitCodes.Usage);
        Assert.That(run.Stderr, Does.Contain($"--chart: '{_work}' is a directory"));
    }

    [Test]
    public void Bench_OutputIsAPipe_IsRefusedAndThePipeStays()
    {
        Assume.That(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS(), "named pipes");
        string pipe = NamedPipe.Create(Path.Combine(_work, "pipe")); // like /dev/null, and harmless if replaced

        CliRun run = Run(BenchArgs("--json", pipe));

        AssertOneErrorLineAndNoMeasurement(run, ExitCodes.Usage);
        Assert.That(run.Stderr, Does.Contain($"--json: '{pipe}' is not a regular file"));
        Assert.That(NamedPipe.IsStillThere(pipe), Is.True, "still a pipe");
    }

    [Test]
    public void Bench_TwoOutputsOneFile_IsUsageError()
    {
        string path = Path.Combine(_work, "both");

        CliRun run = Run(BenchArgs("--json", path, "--markdown", path));

        AssertOneErrorLineAndNoMeasurement(run, ExitCodes.Usage);
        Assert.That(run.Stderr, Does.Contain("--json and --markdown both name"));
        Assert.That(File.Exists(path), Is.False);
    }

    [Test]
    public void BenchCompare_ChartInMissingDirectory_FailsBeforeReadingAndWritesNothing()
    {
        string json = Path.Combine(_work, "a.json"), markdown = Path.Combine(_work, "all.md");
        File.WriteAllText(json, "not even JSON");

        CliRun run = Run("bench", "compare", json, "--markdown", markdown, "--chart", Path.Combine(_work, "missing", "all.png"));

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Failure));
        Assert.That(run.Stderr, Does.StartWith("error: --chart: the directory"), "the outputs are checked before the reports are read");
        Assert.That(File.Exists(markdown), Is.False);
    }

    [Test]
    public void Bench_Outputs_LeaveNoTemporaryFiles()
    {
        string json = Path.Combine(_work, "bench.json"), markdown = Path.Combine(_work, "bench.md"), chart = Path.Combine(_work, "bench.svg");

        CliRun run = Run(BenchArgs("--json", json, "--markdown", markdown, "--chart", chart));

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Success), run.Stderr);
        Assert.That(Directory.GetFiles(_work).Select(Path.GetFileName), Is.EquivalentTo(new[] { "bench.json", "bench.md", "bench.svg" }));
    }
}
