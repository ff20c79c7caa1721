using Spectre.Console;

namespace Rwkv.Onnx.Cli;

/// <summary>Where live progress bars can be drawn: on stderr, when it is the process's terminal and takes ANSI cursor codes.</summary>
internal static class ProgressTerminal
{
    /// <summary>
    /// A console drawing on <paramref name="stderr"/>, or null when bars cannot be redrawn in place there: stderr is not the
    /// process's own, is redirected, or is a terminal without ANSI (e.g. <c>TERM=dumb</c>). Callers then print plain lines.
    /// </summary>
    /// <remarks>
    /// Spectre.Console judges interactivity by stdout: with stdout redirected (<c>bench ... &gt; table.md</c>) it would draw
    /// the bars once, at 0 %, and never update them. The bars go to stderr, so the console is declared interactive
    /// whenever stderr is a terminal.
    /// </remarks>
    public static IAnsiConsole? ForStandardError(TextWriter stderr)
    {
        if (!ReferenceEquals(stderr, Console.Error) || Console.IsErrorRedirected)
        {
            return null;
        }
        IAnsiConsole console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(stderr),
            Ansi = AnsiSupport.Detect,
            Interactive = InteractionSupport.Yes,
        });
        return console.Profile.Capabilities.Ansi ? console : null;
    }

    /// <summary>
    /// Runs <paramref name="withBars"/> inside live bars (elapsed time, bar, percentage) where <see cref="ForStandardError"/>
    /// allows them, else <paramref name="withoutBars"/>, which reports in plain lines.
    /// </summary>
    public static T Run<T>(TextWriter stderr, Func<ProgressContext, T> withBars, Func<T> withoutBars) =>
        ForStandardError(stderr) is { } console
            ? console.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                .Start(withBars)
            : withoutBars();
}
