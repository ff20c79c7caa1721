using System.Net;
using System.Net.Sockets;

namespace Rwkv.Onnx.Tests.Cli;

public sealed partial class CliTests
{
    // ---- serve, bench serve ----

    [TestCase("chat", "is not name=path")]
    [TestCase("=states/a.pth", "is not name=path")]
    [TestCase("chat=", "is not name=path")]
    public void Serve_StateNotNameEqualsPath_IsAUsageErrorNamingTheOption(string value, string expected)
    {
        CliRun run = Run("serve", _model, "--state", value);
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(2));
            Assert.That(run.Stderr, Does.StartWith($"error: --state: '{value}' {expected}"));
        });
    }

    [Test]
    public void Serve_StateFileMissing_FailsBeforeLoadingTheModel()
    {
        string missing = Path.Combine(_root, "no-such-state.bin");
        CliRun run = Run("serve", _model, "--state", $"pirate={missing}");
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(1));
            Assert.That(run.Stderr.TrimEnd(), Is.EqualTo($"error: --state pirate: state file '{missing}' does not exist."));
        });
    }

    [Test]
    public void Serve_PortInUse_IsOneErrorLine()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        int port = ((IPEndPoint)taken.LocalEndpoint).Port;

        CliRun run = Run("serve", _model, "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture));

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(1), run.Stderr);
            Assert.That(run.Stderr, Does.StartWith("error: ").And.Contain(port.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            Assert.That(run.Stderr.Trim().Split('\n'), Has.Length.EqualTo(1), "no stack trace");
        });
    }

    [Test]
    public void BenchServe_InProcess_PrintsTheLoadTableAndBothGoals()
    {
        CliRun run = Run("bench", "serve", _model, "--streams", "1,2", "--max-tokens", "4", "--history-tokens", "40", "--rounds", "1");
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.Zero, run.Stderr);
            Assert.That(run.Stdout, Does.Contain("| 1 | ").And.Contain("| 2 | "));
            Assert.That(run.Stdout, Does.Contain("| the same history again |"));
            Assert.That(run.Stdout, Does.Contain("Goal: a repeated history costs <= 10 % of its cold prefill"));
        });
    }

    [Test]
    public void BenchServe_BothDirectoryAndUrl_IsAUsageError()
    {
        CliRun run = Run("bench", "serve", _model, "--url", "http://127.0.0.1:1");
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(2));
            Assert.That(run.Stderr, Does.StartWith("error: bench serve: give either a model directory"));
        });
    }
}
