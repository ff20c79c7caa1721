using System.CommandLine;

namespace Rwkv.Onnx.Cli.Commands;

/// <summary>The <c>--state &lt;file&gt;</c> option: an initial state saved by <see cref="RwkvState.Save"/>.</summary>
internal sealed class InitialStateOption
{
    private readonly Option<string?> _state = new("--state")
    {
        Description = "Start from a state saved with RwkvState.Save (header 'RWKS').",
        HelpName = "file",
    };

    /// <summary>Adds the option to <paramref name="command"/>.</summary>
    public void AddTo(Command command) => command.Add(_state);

    /// <summary>Loads the state the command line names, or returns null.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public RwkvState? Load(ParseResult parsed, RwkvModel model)
    {
        string? path = parsed.GetValue(_state);
        if (path is null)
        {
            return null;
        }
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"--state: state file '{path}' does not exist.", path);
        }
        using FileStream stream = File.OpenRead(path);
        return RwkvState.Load(model, stream);
    }
}
