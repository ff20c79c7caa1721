using System.CommandLine.Parsing;

namespace Rwkv.Onnx.Cli.Commands;

/// <summary>
/// The names a choice option accepts (case-insensitive) and the value each stands for, in the order messages and help
/// list them. A value may have several names (<c>dml</c>, <c>directml</c>); the first is its canonical one.
/// </summary>
/// <param name="what">What a value is, with its article, for messages: e.g. <c>a weight type</c>.</param>
/// <param name="table">The names and values.</param>
internal sealed class Choices<T>(string what, params (string Name, T Value)[] table)
{
    /// <summary>The canonical names joined by <c>|</c>, for the option's help name: e.g. <c>fp32|fp16|int8|int4</c>.</summary>
    public string HelpName { get; } = string.Join('|', table.DistinctBy(c => c.Value).Select(c => c.Name));

    /// <summary>The canonical name of <paramref name="value"/>.</summary>
    /// <exception cref="ArgumentException">The table has no name for <paramref name="value"/>.</exception>
    public Choice<T> Named(T value)
    {
        foreach ((string name, T choice) in table)
        {
            if (EqualityComparer<T>.Default.Equals(choice, value))
            {
                return new Choice<T>(name, choice);
            }
        }
        throw new ArgumentException($"No name for {value} among {HelpName}.", nameof(value));
    }

    /// <summary>
    /// The choice the option's token names, or null after adding a parse error that names <paramref name="option"/>,
    /// what a value should be and the accepted names.
    /// </summary>
    public Choice<T>? Parse(ArgumentResult result, string option)
    {
        string value = result.Tokens.Count == 0 ? "" : result.Tokens[0].Value;
        foreach ((string name, T choice) in table)
        {
            if (string.Equals(name, value, StringComparison.OrdinalIgnoreCase))
            {
                return Named(choice);
            }
        }
        string names = table.Length == 1 ? table[0].Name : $"{string.Join(", ", table[..^1].Select(c => c.Name))} or {table[^1].Name}";
        result.AddError($"{option}: '{value}' is not {what}; expected {names}.");
        return null;
    }
}
