using System.CommandLine;
using System.CommandLine.Help;
using System.Globalization;
using Rwkv.Onnx.Cli.Commands;
using Rwkv.Onnx.Exceptions;

namespace Rwkv.Onnx.Cli;

/// <summary>The <c>rwkv-onnx</c> command line: builds the commands, runs one, and maps failures to exit codes.</summary>
internal static class Cli
{
    /// <summary>Parses and runs <paramref name="args"/>, writing results to <paramref name="stdout"/> and diagnostics to <paramref name="stderr"/>.</summary>
    /// <returns>
    /// <see cref="ExitCodes.Success"/>; <see cref="ExitCodes.Usage"/> for a bad command line; <see cref="ExitCodes.Failure"/>
    /// for a known failure (one <c>error:</c> line, no stack trace); <see cref="ExitCodes.InternalError"/> for anything else
    /// (the full exception is printed).
    /// </returns>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr) => Run(args, CliConsole.Process(stdout), stdout, stderr);

    /// <summary>
    /// As <see cref="Run(string[], TextWriter, TextWriter)"/>, reading standard input (<c>chat</c> messages, <c>tokenize</c>
    /// text) from <paramref name="console"/>, which also says whether input and output are terminals.
    /// </summary>
    public static int Run(string[] args, CliConsole console, TextWriter stdout, TextWriter stderr) =>
        Run(CreateRootCommand(console), args, stdout, stderr);

    /// <summary>Runs <paramref name="args"/> against <paramref name="root"/> with the error handling of <see cref="Run(string[], TextWriter, TextWriter)"/>.</summary>
    internal static int Run(RootCommand root, string[] args, TextWriter stdout, TextWriter stderr)
    {
        // The options parse numbers invariantly (NumericOption); help prints the defaults with the current culture
        // (0,85 in German), and library messages interpolate numbers with it, so the whole run is invariant.
        CultureInfo culture = CultureInfo.CurrentCulture;
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        try
        {
            return RunInvariant(root, args, stdout, stderr);
        }
        finally
        {
            CultureInfo.CurrentCulture = culture;
        }
    }

    private static int RunInvariant(RootCommand root, string[] args, TextWriter stdout, TextWriter stderr)
    {
        ParseResult parsed = root.Parse(args);
        if (parsed.Errors.Count > 0 && parsed.Action is not HelpAction)
        {
            // One line however many errors: an unknown option and its value are two.
            stderr.WriteLine($"error: {string.Join(" ", parsed.Errors.Select(error => error.Message))}");
            stderr.WriteLine("Run 'rwkv-onnx --help' (or 'rwkv-onnx <command> --help') for usage.");
            return ExitCodes.Usage;
        }

        try
        {
            return parsed.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (e is UsageException or ArgumentException)
        {
            stderr.WriteLine($"error: {UserMessage(e)}");
            return ExitCodes.Usage;
        }
        catch (Exception e) when (e is RwkvException or IOException or UnauthorizedAccessException or InvalidDataException)
        {
            // FileNotFoundException and DirectoryNotFoundException are IOExceptions.
            stderr.WriteLine($"error: {UserMessage(e)}");
            return ExitCodes.Failure;
        }
        catch (Exception e)
        {
            stderr.WriteLine($"internal error: {e}");
            return ExitCodes.InternalError;
        }
    }

    /// <summary>
    /// The exception's message for the <c>error:</c> line. An <see cref="ArgumentException"/> appends
    /// <c> (Parameter 'name')</c> for the developer (and an <see cref="ArgumentOutOfRangeException"/> a line with the
    /// value); the user gets the sentence before it. The exception itself keeps its <see cref="ArgumentException.ParamName"/>.
    /// </summary>
    internal static string UserMessage(Exception e)
    {
        string message = e.Message;
        if (e is ArgumentException { ParamName: { Length: > 0 } name })
        {
            // The suffix as this runtime words it: an empty message plus the parameter.
            string suffix = new ArgumentException("", name).Message;
            int at = message.IndexOf(suffix, StringComparison.Ordinal);
            if (at > 0)
            {
                message = message[..at];
            }
        }
        return message;
    }

    /// <summary>Creates the root command with every subcommand, over <paramref name="console"/> (default: the process's own, <see cref="CliConsole.Process"/>).</summary>
    public static RootCommand CreateRootCommand(CliConsole? console = null)
    {
        console ??= CliConsole.Process(Console.Out);
        var root = new RootCommand("Export RWKV checkpoints to ONNX and run them with ONNX Runtime.")
        {
            ExportCommand.Create(),
            LogitsCommand.Create(),
            GenerateCommand.Create(console),
            InspectCommand.Create(),
            TokenizeCommand.Create(console),
            ChatCommand.Create(console),
            RandomCheckpointCommand.Create(),
            BenchCommand.Create(),
            VerifyCommand.Create(),
            ServeCommand.Create(),
            TritonCommand.Create(),
            QuantFrontierCommand.Create(),
        };
        return root;
    }
}
