using System.Text;
using Rwkv.Onnx.Cli;
using Rwkv.Onnx.Cli.Commands;
using Rwkv.Onnx.Exceptions;
using Rwkv.Onnx.Generation;
using Rwkv.Onnx.Sampling;
using Rwkv.Onnx.Tokenization;

namespace Rwkv.Onnx.Tests.Cli;

public sealed partial class CliTests
{
    // ---- chat ----

    private static CliRun RunWithInput(string input, params string[] args) => RunWithInput(Encoding.UTF8.GetBytes(input), args);

    // Standard input from bytes; neither it nor standard output is a terminal unless asked.
    private static CliRun RunWithInput(byte[] input, string[] args, bool inputIsTerminal = false, bool outputIsTerminal = false)
    {
        var console = new CliConsole
        {
            OpenInput = () => new MemoryStream(input, writable: false),
            InputIsTerminal = inputIsTerminal,
            OutputIsTerminal = outputIsTerminal,
        };
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int exitCode = Rwkv.Onnx.Cli.Cli.Run(args, console, stdout, stderr);
        return new CliRun(exitCode, stdout.ToString(), stderr.ToString());
    }

    [Test]
    public void Chat_TwoTurnsFromStdin_SecondReplyContinuesTheWholeConversation()
    {
        CliRun run = RunWithInput("Hello there\n\nHow are you?\n", "chat", _model, "--seed", "3", "--top-p", "1", "--max-tokens", "15");
        Assert.That(run.ExitCode, Is.Zero, run.Stderr);
        string[] replies = run.Stdout.Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);

        // The same conversation through the library (ChatSessionTests shows its state equals the whole history),
        // with the chat command's sampler: one seeded sampler for the whole conversation, ChatRWKV's penalties.
        using RwkvModel model = RwkvModel.Load(_model);
        var generator = new TextGenerator(model, ByteTokenizer.Create());
        var options = new GenerationOptions
        {
            MaxTokens = 15,
            Sampling = new SamplingSettings { Temperature = 1, TopP = 1, Seed = 3, PresencePenalty = 0.5f, FrequencyPenalty = 0.5f, PenaltyDecay = 0.996f },
        };
        using var chat = new ChatSession(generator, ChatTemplate.World);
        string first = chat.Send("Hello there", options).Text;
        string second = chat.Send("How are you?", options).Text;

        Assert.Multiple(() =>
        {
            Assert.That(replies, Is.EqualTo(new[] { "Assistant:" + first, "Assistant:" + second }), "blank input lines are skipped");
            Assert.That(run.Stderr, Does.Contain("world template"));
            Assert.That(run.Stderr, Does.Not.Contain(ChatCommand.Prompt), "no prompt when the input is not a terminal");
        });
    }

    [Test]
    public void Chat_InputFromATerminal_ShowsAPromptOnStderrBeforeEachMessage()
    {
        string[] args = ["chat", _model, "--seed", "3", "--max-tokens", "5"];
        CliRun piped = RunWithInput("Hello\n"u8.ToArray(), args);
        CliRun typed = RunWithInput("Hello\n"u8.ToArray(), args, inputIsTerminal: true);
        Assert.Multiple(() =>
        {
            Assert.That(typed.ExitCode, Is.Zero, typed.Stderr);
            Assert.That(typed.Stdout, Is.EqualTo(piped.Stdout), "stdout holds only the replies either way");
            Assert.That(typed.Stderr, Does.Contain("Ctrl-C stops a reply"));
            // One prompt for the message, one for the end of input, which then ends the line.
            Assert.That(typed.Stderr, Does.EndWith(ChatCommand.Prompt + ChatCommand.Prompt + Environment.NewLine));
        });
    }

    [Test]
    public void Chat_InterruptDuringReply_StopsItAndTheNextMessageContinuesTheConversation()
    {
        // Ctrl-C arrives once the first reply has streamed 12 characters (the real signal: ChatTerminalTests).
        const int StopAfter = 12;
        string[] args = ["chat", _model, "--seed", "5", "--top-p", "1", "--max-tokens", "60"];
        var interrupter = new ReplyInterrupter();
        var stdout = new InterruptingWriter(interrupter, "Assistant:", StopAfter);
        var stderr = new StringWriter();
        var console = new CliConsole
        {
            OpenInput = () => new MemoryStream("Hello there\nHow are you?\n"u8.ToArray()),
            InputIsTerminal = true,
            AttachInterrupter = () => interrupter,
        };
        int exitCode = Rwkv.Onnx.Cli.Cli.Run(args, console, stdout, stderr);

        // The same conversation through the library, cancelled at the same point of the first reply.
        using RwkvModel model = RwkvModel.Load(_model);
        var generator = new TextGenerator(model, ByteTokenizer.Create());
        var options = new GenerationOptions
        {
            MaxTokens = 60,
            Sampling = new SamplingSettings { Temperature = 1, TopP = 1, Seed = 5, PresencePenalty = 0.5f, FrequencyPenalty = 0.5f, PenaltyDecay = 0.996f },
        };
        using var chat = new ChatSession(generator, ChatTemplate.World);
        using var cancellation = new CancellationTokenSource();
        string shown = "";
        GenerationCanceledException stopped = Assert.Throws<GenerationCanceledException>(() => chat.Send("Hello there", options, piece =>
        {
            shown += piece;
            if (shown.Length >= StopAfter)
            {
                cancellation.Cancel();
            }
        }, cancellation.Token))!;
        string second = chat.Send("How are you?", options).Text;

        Assert.Multiple(() =>
        {
            Assert.That(exitCode, Is.Zero, stderr.ToString());
            Assert.That(stopped.GeneratedTokens, Has.Count.LessThan(60), "the reply was stopped before its budget");
            Assert.That(stdout.ToString(), Is.EqualTo(
                "Assistant:" + stopped.Text + Environment.NewLine + "Assistant:" + second + Environment.NewLine));
            Assert.That(stderr.ToString(), Does.Contain("(reply stopped)"));
        });
    }

    // Standard output that interrupts the reply once it has shown some characters after a marker, as Ctrl-C would.
    private sealed class InterruptingWriter(ReplyInterrupter interrupter, string marker, int characters) : StringWriter
    {
        private bool _interrupted;

        public override void Write(string? value)
        {
            base.Write(value);
            string text = ToString();
            int start = text.IndexOf(marker, StringComparison.Ordinal);
            if (!_interrupted && start >= 0 && text.Length - start - marker.Length >= characters)
            {
                _interrupted = interrupter.Interrupt();
            }
        }
    }

    [Test]
    public void Chat_UnknownTemplate_IsAUsageError()
    {
        CliRun run = RunWithInput("hi\n", "chat", _model, "--template", "llama");
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(2));
            Assert.That(run.Stderr, Does.StartWith("error: --template: 'llama'"));
        });
    }

    [Test]
    public void Generate_StopString_EndsTheOutputBeforeIt()
    {
        CliRun free = Run("generate", _model, "--prompt", "Once", "--max-tokens", "40", "--seed", "4", "--top-p", "1");
        string text = free.Stdout.TrimEnd('\n', '\r');
        string stop = text.Substring(8, 2);
        CliRun stopped = Run("generate", _model, "--prompt", "Once", "--max-tokens", "40", "--seed", "4", "--top-p", "1", "--stop", stop);
        Assert.Multiple(() =>
        {
            Assert.That(stopped.ExitCode, Is.Zero, stopped.Stderr);
            Assert.That(stopped.Stdout, Is.EqualTo(text[..text.IndexOf(stop, StringComparison.Ordinal)] + Environment.NewLine));
        });
    }

    [Test]
    public void Generate_FromSavedState_ContinuesIt()
    {
        string stateFile = Path.Combine(_work, "state.bin");
        using (RwkvModel model = RwkvModel.Load(_model))
        using (RwkvState state = model.CreateState())
        {
            using (RwkvRunner runner = model.CreateRunner())
            {
                runner.Forward([.. "The story so far: "u8.ToArray().Select(b => (int)b)], state, new float[256]);
            }
            using FileStream file = File.Create(stateFile);
            state.Save(file);
        }
        CliRun fromState = Run("generate", _model, "--prompt", "a cat", "--max-tokens", "20", "--temperature", "0", "--state", stateFile);
        CliRun joined = Run("generate", _model, "--prompt", "The story so far: a cat", "--max-tokens", "20", "--temperature", "0");
        Assert.Multiple(() =>
        {
            Assert.That(fromState.ExitCode, Is.Zero, fromState.Stderr);
            Assert.That(fromState.Stdout, Is.EqualTo(joined.Stdout));
        });
    }
}
