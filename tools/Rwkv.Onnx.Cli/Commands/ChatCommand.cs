using System.CommandLine;
using System.Text;
using Rwkv.Onnx.Exceptions;
using Rwkv.Onnx.Generation;
using Rwkv.Onnx.Sampling;

namespace Rwkv.Onnx.Cli.Commands;

/// <summary>
/// <c>rwkv-onnx chat &lt;dir&gt; [--template world|alpaca] [--max-tokens 500] [sampling options] [--state file]</c>:
/// reads one user message per line from standard input and streams each reply to standard output, keeping the
/// conversation's state between turns. When standard input is a terminal it shows a prompt, and Ctrl-C stops a reply
/// (<see cref="ReplyInterrupter"/>).
/// </summary>
internal static class ChatCommand
{
    /// <summary>The input prompt, on stderr so that stdout holds only the replies.</summary>
    internal const string Prompt = "> ";

    public static Command Create(CliConsole console)
    {
        var directory = new Argument<string>("dir") { Description = "An exported model directory." };
        var template = new Option<string?>("--template")
        {
            Description = "Turn format: world (User:/Assistant:) or alpaca (Raven instructions); default the model's (its manifest's chat template).",
            HelpName = "world|alpaca",
        };
        template.Validators.Add(result =>
        {
            string? value = result.GetValueOrDefault<string?>();
            if (value is not (null or "world" or "alpaca"))
            {
                result.AddError($"--template: '{value}' is not a chat template; expected world or alpaca.");
            }
        });
        var maxTokens = new Option<int>("--max-tokens", "-n") { Description = "Most tokens per reply.", DefaultValueFactory = _ => 500 }
            .InRange(NumericRange.AtLeast(1));
        var sampling = new SamplingCommandOptions(SamplingSettings.Chat);
        var state = new InitialStateOption();
        var load = new ModelLoadOptions();

        var command = new Command("chat", "Chat with a model: one user message per line of standard input; replies stream to standard output.")
        {
            directory, template, maxTokens,
        };
        sampling.AddTo(command);
        state.AddTo(command);
        load.AddTo(command);
        command.SetAction(parsed =>
        {
            TextWriter stdout = parsed.InvocationConfiguration.Output;
            TextWriter stderr = parsed.InvocationConfiguration.Error;
            state.Check(parsed);
            using TextGenerator generator = TextGenerator.Load(ModelDirectory.Require(parsed.GetRequiredValue(directory)), load.Read(parsed));
            ChatTemplate chosen = parsed.GetValue(template) switch
            {
                "world" => ChatTemplate.World,
                "alpaca" => ChatTemplate.Alpaca,
                _ => ChatTemplate.ForManifest(generator.Model.Manifest),
            };
            using RwkvState? initial = state.Load(parsed, generator.Model);
            using var chat = new ChatSession(generator, chosen, initial);
            var options = new GenerationOptions { MaxTokens = parsed.GetValue(maxTokens), Sampling = sampling.Read(parsed, stderr) };
            bool interactive = console.InputIsTerminal;
            stderr.WriteLine(interactive
                ? $"chat ({chosen.Name} template): one message per line; Ctrl-C stops a reply; Ctrl-D, or Ctrl-C at the prompt, quits."
                : $"chat ({chosen.Name} template): one message per line; end input to quit.");

            // Messages are read as UTF-8 and taken literally: no escapes, so pasted code keeps its backslashes.
            using var input = new StreamReader(console.OpenInput(), Encoding.UTF8);
            using ReplyInterrupter? interrupter = interactive ? console.AttachInterrupter() : null;
            var reply = new GeneratedTextWriter(stdout, escapeControls: console.OutputIsTerminal);
            while (true)
            {
                if (interactive)
                {
                    stderr.Write(Prompt);
                    stderr.Flush();
                }
                string? line = input.ReadLine();
                if (line is null)
                {
                    break;
                }
                if (string.IsNullOrWhiteSpace(line))
                {
                    continue;
                }
                stdout.Write(chosen.AssistantPrefix);
                try
                {
                    chat.Send(line, options, reply.Write, interrupter?.BeginReply() ?? default);
                }
                catch (GenerationCanceledException)
                {
                    // ChatSession keeps the half reply in the conversation; the next message continues after it.
                    reply.EndLine();
                    stderr.WriteLine("(reply stopped)");
                    continue;
                }
                finally
                {
                    interrupter?.EndReply();
                }
                reply.EndLine();
            }
            if (interactive)
            {
                stderr.WriteLine();   // after Ctrl-D, so that the shell's prompt starts on its own line
            }
            return ExitCodes.Success;
        });
        return command;
    }
}
