using Rwkv.Onnx.Cli;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Cli;

/// <summary>
/// Progress of bench and export on a real terminal with stdout redirected (issue 16 item 20): the CLI runs in a
/// pseudo-terminal, its stdout sent to a file, and what the terminal showed is read back.
/// </summary>
public sealed partial class CliTests
{
    // The terminal's transcript and the stdout file of `rwkv-onnx <args> > stdout.txt` run with TERM set as given.
    private (int ExitCode, string Transcript, string Stdout) RunOnTerminal(string term, params string[] args)
    {
        Assume.That(OperatingSystem.IsLinux(), "the pseudo-terminal comes from util-linux script");
        string stdout = Path.Combine(_work, "stdout.txt");
        using var terminal = PseudoTerminalSession.Start(["dotnet", Path.Combine(AppContext.BaseDirectory, "rwkv-onnx.dll"), .. args],
            TimeSpan.FromMinutes(5), stdout, new Dictionary<string, string?> { ["TERM"] = term, ["NO_COLOR"] = null });
        int exitCode = terminal.WaitForExit();
        return (exitCode, terminal.Transcript, File.ReadAllText(stdout));
    }

    private (int ExitCode, string Transcript, string Table) BenchOnTerminal(string term) =>
        RunOnTerminal(term, "bench", _model, "--prefill", "16", "--decode", "8", "--repeat", "1", "--bandwidth-buffer-mib", "16");

    [Test]
    public void Bench_OnATerminalWithStdoutRedirected_ProgressBarsReachTheEnd()
    {
        (int exitCode, string transcript, string table) = BenchOnTerminal("xterm-256color");

        Assert.That(exitCode, Is.EqualTo(ExitCodes.Success), transcript);
        // Spectre.Console judged the console non-interactive by the redirected stdout and drew "cpu batch 1: load 0%" once.
        Assert.That(transcript, Does.Contain("cpu batch 1: done").And.Contain("100%"));
        Assert.That(transcript, Does.Contain("\u001b["), "live bars, redrawn in place");
        Assert.That(table, Does.StartWith("| model |"), "the table alone on stdout");
    }

    [Test]
    public void Bench_OnATerminalWithoutAnsi_PrintsPlainProgressLines()
    {
        (int exitCode, string transcript, string table) = BenchOnTerminal("dumb");

        Assert.That(exitCode, Is.EqualTo(ExitCodes.Success), transcript);
        Assert.That(transcript, Does.Contain("bench: cpu batch 1: load (0/3)").And.Contain("bench: cpu batch 1: done (3/3)").And.Contain("bench: memory bandwidth (1/1)"));
        Assert.That(transcript, Does.Not.Contain("%"));
        Assert.That(table, Does.StartWith("| model |"));
    }

    [Test]
    public void Export_OnATerminalWithStdoutRedirected_ProgressBarsReachTheEnd()
    {
        (int exitCode, string transcript, string summary) = RunOnTerminal("xterm-256color",
            "export", SharedFixtures.RwkvCppModel(Model, "FP32"), "-o", Path.Combine(_work, "model"));

        Assert.That(exitCode, Is.EqualTo(ExitCodes.Success), transcript);
        // Before, the bars were drawn once at 0 % and never updated ("step graph ... 0%").
        Assert.That(transcript, Does.Contain("prefill graph").And.Contain("100%").And.Not.Contain("export: weights"));
        Assert.That(summary, Does.StartWith("exported RWKV-7 to"));
    }
}
