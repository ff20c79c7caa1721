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
        yield return Case(() => new FileNotFoundException("Checkpoint 'x.bin' does not exist."), "Checkpoint 'x.bin' does not exist.").Returns(ExitCodes.Failure);
        yield return Case(() => new DirectoryNotFoundException("Could not find 'd'."), "Could not find 'd'.").Returns(ExitCodes.Failure);
        yield return Case(() => new IOException("Disk full."), "Disk full.").Returns(ExitCodes.Failure);
        yield return Case(() => new ModelContractException("m", "manifest", "Manifest 'm' is not valid."), "Manifest 'm' is not valid.").Returns(ExitCodes.Failure);
        yield return Case(() => new UsageException("--tokens: bad."), "--tokens: bad.").Returns(ExitCodes.Usage);
        // The parameter name (and an out-of-range value's second line) is for developers; the user gets the sentence.
        yield return Case(() => new ArgumentOutOfRangeException("tokens", "Token 999 is outside the vocabulary."), "Token 999 is outside the vocabulary.")
            .Returns(ExitCodes.Usage);
        yield return Case(() => new ArgumentOutOfRangeException("tokens", 999, "Token 999 is outside the vocabulary."), "Token 999 is outside the vocabulary.")
            .Returns(ExitCodes.Usage);
        yield return Case(() => new ArgumentException("Tokenizer 't.txt' has 65536 tokens but the checkpoint's vocabulary has 256.", "path"),
            "Tokenizer 't.txt' has 65536 tokens but the checkpoint's vocabulary has 256.").Returns(ExitCodes.Usage);
        yield return Case(() => new ArgumentException("No parameter named."), "No parameter named.").Returns(ExitCodes.Usage);
    }

    private static TestCaseData Case(Func<Exception> create, string message) => new(create, message);

    [TestCaseSource(nameof(KnownFailures))]
    public int KnownFailure_PrintsOneErrorLineWithoutStackTrace(Func<Exception> create, string message)
    {
        (int exitCode, string stderr) = RunThrowing(create());
        Assert.That(stderr, Is.EqualTo($"error: {message}{Environment.NewLine}"));
        return exitCode;
    }

    [Test]
    public void ArgumentException_KeepsItsParameterNameForLibraryCallers()
    {
        var exception = new ArgumentException("Tokenizer 't.txt' is too large.", "path");
        (_, string stderr) = RunThrowing(exception);
        Assert.Multiple(() =>
        {
            Assert.That(stderr, Does.Not.Contain("(Parameter"));
            Assert.That(exception.ParamName, Is.EqualTo("path"));
            Assert.That(exception.Message, Does.Contain("path"));
        });
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
