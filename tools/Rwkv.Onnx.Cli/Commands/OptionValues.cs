using System.CommandLine.Parsing;

namespace Rwkv.Onnx.Cli.Commands;

/// <summary>Reading an option's value inside its validator or parser.</summary>
internal static class OptionValues
{
    /// <summary>
    /// The option's value, or false when its token did not convert to <typeparamref name="T"/>. System.CommandLine runs
    /// validators even then, and <c>GetValueOrDefault</c> throws; the parser reports the bad token itself as a usage error.
    /// </summary>
    public static bool TryGet<T>(OptionResult result, out T value)
    {
        try
        {
            value = result.GetValueOrDefault<T>()!;
            return true;
        }
        catch (InvalidOperationException)
        {
            value = default!;
            return false;
        }
    }

    /// <summary>
    /// Parses an option whose value is one of <paramref name="choices"/> (case-insensitive). Any other value is a
    /// parse error naming the option, what the value should be and the accepted names; the default is returned then.
    /// </summary>
    /// <param name="result">The option's argument.</param>
    /// <param name="option">The option's name, for the message.</param>
    /// <param name="what">What a value is, with its article, e.g. <c>a weight type</c>.</param>
    /// <param name="choices">The accepted names, in the order the message lists them.</param>
    public static T ParseChoice<T>(ArgumentResult result, string option, string what, params (string Name, T Value)[] choices)
    {
        string value = result.Tokens.Count == 0 ? "" : result.Tokens[0].Value;
        foreach ((string name, T choice) in choices)
        {
            if (string.Equals(name, value, StringComparison.OrdinalIgnoreCase))
            {
                return choice;
            }
        }
        string names = choices.Length == 1 ? choices[0].Name : $"{string.Join(", ", choices[..^1].Select(c => c.Name))} or {choices[^1].Name}";
        result.AddError($"{option}: '{value}' is not {what}; expected {names}.");
        return default!;
    }
}
