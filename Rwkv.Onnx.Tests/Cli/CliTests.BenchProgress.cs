using System.Diagnostics;
using System.Runtime.InteropServices;
using Rwkv.Onnx.Cli;

namespace Rwkv.Onnx.Tests.Cli;

/// <summary>
/// bench's progress on a real terminal with stdout redirected (issue 16 item 20): the CLI runs in a pseudo-terminal
/// made by util-linux <c>script</c>, its stdout sent to a file, and the terminal's transcript is read back.
/// </summary>
public sealed partial class CliTests
{
    // The transcript of `rwkv-onnx bench <tiny> ... > table.md` run on a pseudo-terminal with TERM set as given.
    private (int ExitCode, string Transcript, string Table) BenchOnTerminal(string term)
    {
        Assume.That(OperatingSystem.IsLinux(), "the pseudo-terminal comes from util-linux script");
        const string Script = "/usr/bin/script"; // bsdutils, an essential Debian package
        Assert.That(File.Exists(Script), Is.True, $"{Script} is missing");
        string dotnet = Path.GetFullPath(Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", "..", "dotnet"));
        string cli = typeof(Rwkv.Onnx.Cli.Cli).Assembly.Location;
        string table = Path.Combine(_work, "table.md"), transcript = Path.Combine(_work, "terminal.log");
        string command = $"'{dotnet}' '{cli}' bench '{_model}' --prefill 16 --decode 8 --repeat 1 --bandwidth-buffer-mib 16 > '{table}'";
        var start = new ProcessStartInfo(Script) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in new[] { "--quiet", "--flush", "--return", "--command", command, transcript })
        {
            start.ArgumentList.Add(argument);
        }
        start.Environment["TERM"] = term;
        start.Environment.Remove("NO_COLOR");
        using Process process = Process.Start(start)!;
        process.StandardInput.Close();
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        Assert.That(process.WaitForExit(TimeSpan.FromMinutes(5)), Is.True, "bench on a terminal did not finish in 5 minutes");
        Assert.That(error.Result, Is.Empty);
        GC.KeepAlive(output.Result);
        return (process.ExitCode, File.ReadAllText(transcript), File.ReadAllText(table));
    }

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
}
