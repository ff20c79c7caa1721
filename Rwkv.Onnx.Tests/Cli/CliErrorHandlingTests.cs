using System.CommandLine;
using Rwkv.Onnx.Cli;
using Rwkv.Onnx.Exceptions;

namespace Rwkv.Onnx.Tests.Cli;

/// <summary>How <see cref="Rwkv.Onnx.Cli.Cli.Run(string[], TextWriter, TextWriter)"/> maps what a command throws to stderr and exit codes.</summary>
public sealed class CliErrorHandlingTests
{
    private static (int ExitCode, string Stderr) RunThrowing(Exception exception)
    {
        var command = new Command("fail");
        command.SetAction(new Func<ParseResult, int>(_ => throw exception));
        var root = new RootCommand("test") { command };
        var stderr = new StringWriter();
        int exitCode = Rwkv.Onnx.Cli.Cli.Run(root, ["fail"], new StringWriter(), stderr);
        return (exitCode, stderr.ToString());
    }

    public static IEnumerable<TestCaseData> KnownFailures()
    {
        yield return new TestCaseData(new Func<Exception>(() => new FileNotFoundException("Checkpoint 'x.bin' does not exist."))).Returns(ExitCodes.Failure);
        yield return new TestCaseData(new Func<Exception>(() => new DirectoryNotFoundException("Could not find 'd'."))).Returns(ExitCodes.Failure);
        yield return new TestCaseData(new Func<Exception>(() => new IOException("Disk full."))).Returns(ExitCodes.Failure);
        yield return new TestCaseData(new Func<Exception>(() => new ModelContractException("m", "manifest", "Manifest 'm' is not valid."))).Returns(ExitCodes.Failure);
        yield return new TestCaseData(new Func<Exception>(() => new ArgumentOutOfRangeException("tokens", "Token 999 is outside the vocabulary."))).Returns(ExitCodes.Usage);
        yield return new TestCaseData(new Func<Exception>(() => new UsageException("--tokens: bad."))).Returns(ExitCodes.Usage);
    }

    [TestCaseSource(nameof(KnownFailures))]
    public int KnownFailure_PrintsOneErrorLineWithoutStackTrace(Func<Exception> create)
    {
        Exception exception = create();
        (int exitCode, string stderr) = RunThrowing(exception);
        Assert.That(stderr, Is.EqualTo($"error: {exception.Message}{Environment.NewLine}"));
        return exitCode;
    }

    [Test]
    public void UnexpectedException_PrintsTheFullExceptionAndExits70()
    {
        (int exitCode, string stderr) = RunThrowing(new InvalidOperationException("Something impossible happened."));
        Assert.Multiple(() =>
        {
            Assert.That(exitCode, Is.EqualTo(70));
            Assert.That(stderr, Does.Contain("System.InvalidOperationException: Something impossible happened."));
            Assert.That(stderr, Does.Contain("   at ").And.Contain(nameof(CliErrorHandlingTests)), "the stack trace is printed");
        });
    }
}
