using System.CommandLine;

namespace Rwkv.Onnx.Cli.Commands;

/// <summary>
/// <c>serve</c>'s repeatable <c>--state name=path</c>: start states a request picks by name (its <c>state</c> field), each
/// a file <see cref="InitialStateOption"/> reads (a saved state or an RWKV-PEFT state-tuning checkpoint).
/// </summary>
internal sealed class NamedStateOption
{
    private const string OptionName = "--state";

    private readonly Option<string[]> _states = new(OptionName)
    {
        Description = "A named start state, name=path (repeatable): a state saved with RwkvState.Save or a state-tuning checkpoint (RWKV-PEFT .pth); requests pick it with \"state\": \"name\".",
        HelpName = "name=path",
        AllowMultipleArgumentsPerToken = false,
    };

    /// <summary>Adds the option to <paramref name="command"/>.</summary>
    public void AddTo(Command command) => command.Add(_states);

    /// <summary>The name and path pairs, each file checked to exist and be a kind of state, before the model is loaded.</summary>
    /// <exception cref="UsageException">A value is not name=path, or a name repeats.</exception>
    /// <exception cref="FileNotFoundException">A file does not exist.</exception>
    /// <exception cref="InvalidDataException">A path is a directory or neither kind of state.</exception>
    public IReadOnlyList<(string Name, string Path)> Check(ParseResult parsed)
    {
        var states = new List<(string Name, string Path)>();
        foreach (string value in parsed.GetValue(_states) ?? [])
        {
            int equals = value.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0 || equals == value.Length - 1)
            {
                throw new UsageException($"{OptionName}: '{value}' is not name=path; e.g. --state assistant=states/assistant.pth.");
            }
            string name = value[..equals].Trim();
            string path = value[(equals + 1)..];
            if (name.Length == 0)
            {
                throw new UsageException($"{OptionName}: '{value}' has an empty name; e.g. --state assistant=states/assistant.pth.");
            }
            if (states.Any(state => state.Name == name))
            {
                throw new UsageException($"{OptionName}: the name '{name}' is given twice; each state needs its own name.");
            }
            InitialStateOption.CheckFile(Label(name), path);
            states.Add((name, path));
        }
        return states;
    }

    /// <summary>The prefix of messages about one state: <c>--state name</c>.</summary>
    public static string Label(string name) => $"{OptionName} {name}";
}
