using System.CommandLine;

namespace Rwkv.Onnx.Cli.Commands;

/// <summary>
/// Makes an option accept one of a <see cref="Choices{T}"/> table's names:
/// <c>new Option&lt;Choice&lt;WeightDType&gt;&gt;("--dtype") { ... }.OneOf(s_weightTypes, WeightDType.Float32)</c>.
/// The default comes from the same table, so help shows a name the parser accepts.
/// </summary>
internal static class ChoiceOption
{
    /// <summary>Parses the option with <paramref name="choices"/>; when it is left out, its value is <paramref name="defaultValue"/>.</summary>
    /// <returns><paramref name="option"/>, for use after an object initializer.</returns>
    public static Option<Choice<T>> OneOf<T>(this Option<Choice<T>> option, Choices<T> choices, T defaultValue)
    {
        Choice<T> fallback = choices.Named(defaultValue);
        option.DefaultValueFactory = _ => fallback;
        option.CustomParser = result => choices.Parse(result, option.Name) ?? fallback;
        option.HelpName ??= choices.HelpName;
        return option;
    }

    /// <summary>Parses the option with <paramref name="choices"/>; when it is left out, its value is null.</summary>
    /// <returns><paramref name="option"/>, for use after an object initializer.</returns>
    public static Option<T?> OneOf<T>(this Option<T?> option, Choices<T> choices) where T : struct
    {
        option.CustomParser = result => choices.Parse(result, option.Name)?.Value;
        option.HelpName ??= choices.HelpName;
        return option;
    }
}
