using System.CommandLine;
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
    /// In a command's validator: the value of <paramref name="option"/>, given or default, or false when it has
    /// neither or its token did not convert (the parser reports that).
    /// </summary>
    public static bool TryGet<T>(SymbolResult result, Option<T> option, out T value)
    {
        if (result.GetResult(option) is { } optionResult)
        {
            return TryGet(optionResult, out value);
        }
        // Command validators run before the defaults of options left out have results.
        if (option.HasDefaultValue && option.GetDefaultValue() is T defaultValue)
        {
            value = defaultValue;
            return true;
        }
        value = default!;
        return false;
    }

    /// <summary>
    /// In a command's validator: whether <paramref name="option"/> was written on the command line, rather than left at
    /// its default, with a value that converted (a bad one already has its own error).
    /// </summary>
    public static bool IsGiven(SymbolResult result, Option option) =>
        result.GetResult(option) is { Implicit: false } given && TryGet(given, out object? _);
}
