using Rwkv.Onnx.Cli.Commands;
using Rwkv.Onnx.Export;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Cli;

/// <summary>
/// <c>rwkv-onnx chat</c> on a real terminal (<see cref="PseudoTerminalSession"/>), used as a person would: type a
/// message, press Ctrl-C while the reply streams, type another, press Ctrl-C at the prompt.
/// </summary>
[TestFixture]
[Platform("Linux", Reason = "The pseudo-terminal comes from util-linux script(1).")]
public sealed class ChatTerminalTests
{
    // Generous: on a loaded machine starting the runtime and loading the model can take tens of seconds.
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(180);
    private readonly ScratchRoot _root = new("rwkv-chat-terminal-tests-");
    private string _model = "";

    [OneTimeSetUp]
    public void ExportModel()
    {
        _root.Create();
        _model = Path.Combine(_root.Path, "tiny-rwkv-7");
        RwkvExporter.Export(SharedFixtures.RwkvCppModel("7v0-834K", "FP32"), _model, new ExportOptions());
    }

    [OneTimeTearDown]
    public void DeleteModel() => _root.Delete();

    [Test]
    public void Chat_CtrlCDuringAReply_StopsItAndKeepsTheChat_CtrlCAtThePrompt_Exits()
    {
        // The Alpaca template and this seed: the tiny model's first replies run for thousands of tokens before a stop
        // string, so each is still streaming when Ctrl-C arrives; --max-tokens is far beyond that.
        string cli = Path.Combine(AppContext.BaseDirectory, "rwkv-onnx.dll");
        using var terminal = PseudoTerminalSession.Start(
            ["dotnet", cli, "chat", _model, "--template", "alpaca", "--seed", "1", "--max-tokens", "100000", "--threads", "1"], s_timeout);

        int at = terminal.WaitFor("Ctrl-C stops a reply");
        at = terminal.WaitFor(ChatCommand.Prompt, at);
        for (int turn = 1; turn <= 2; turn++)
        {
            terminal.Type(turn == 1 ? "Hello there\n" : "How are you?\n");
            at = terminal.WaitFor("# Response:", at);
            terminal.WaitForCharacters(200, at);   // the reply is streaming
            terminal.Type("\u0003");
            at = terminal.WaitFor("(reply stopped)", at);
            at = terminal.WaitFor(ChatCommand.Prompt, at);   // the chat goes on, in the same process
        }
        terminal.Type("\u0003");
        int exitStatus = terminal.WaitForExit();

        string transcript = terminal.Transcript;
        Assert.Multiple(() =>
        {
            Assert.That(exitStatus, Is.EqualTo(130), $"Ctrl-C at the prompt ends the program as SIGINT does (128 + 2). Transcript:{Environment.NewLine}{transcript}");
            Assert.That(transcript.Split("# Response:").Length - 1, Is.EqualTo(2), "two replies, no third");
            Assert.That(transcript.Split("(reply stopped)").Length - 1, Is.EqualTo(2));
            Assert.That(transcript, Does.Not.Contain("error:").And.Not.Contain("   at "), "no error, no stack trace");
        });
    }
}
