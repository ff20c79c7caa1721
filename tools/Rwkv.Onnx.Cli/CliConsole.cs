using Rwkv.Onnx.Cli.Commands;

namespace Rwkv.Onnx.Cli;

/// <summary>
/// The console as the commands see it: standard input, whether standard input and output are terminals, and Ctrl-C.
/// Commands take their terminal-only behaviour (chat's prompt and reply interruption, escaped control characters)
/// from here instead of asking <see cref="System.Console"/>, so tests can drive both paths in process.
/// </summary>
internal sealed class CliConsole
{
    /// <summary>Opens standard input as bytes; the caller disposes the stream.</summary>
    public required Func<Stream> OpenInput { get; init; }

    /// <summary>Standard input is a terminal: a person types the input.</summary>
    public bool InputIsTerminal { get; init; }

    /// <summary>Standard output is a terminal: a person reads the output.</summary>
    public bool OutputIsTerminal { get; init; }

    /// <summary>Creates the handler of Ctrl-C during chat replies; the caller disposes it. Default: the console's Ctrl-C.</summary>
    public Func<ReplyInterrupter> AttachInterrupter { get; init; } = ReplyInterrupter.AttachToConsole;

    /// <summary>
    /// The process's console. Output counts as a terminal only when <paramref name="stdout"/> is the console's own
    /// writer and is not redirected.
    /// </summary>
    public static CliConsole Process(TextWriter stdout) => new()
    {
        OpenInput = System.Console.OpenStandardInput,
        InputIsTerminal = !System.Console.IsInputRedirected,
        OutputIsTerminal = ReferenceEquals(stdout, System.Console.Out) && !System.Console.IsOutputRedirected,
    };
}
