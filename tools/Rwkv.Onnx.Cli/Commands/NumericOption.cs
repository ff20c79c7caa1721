using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Numerics;
using System.Text.RegularExpressions;

namespace Rwkv.Onnx.Cli.Commands;

/// <summary>
/// Makes an option numeric: <c>new Option&lt;int&gt;("--threads") { ... }.InRange(NumericRange.From(0, 64))</c>. Every
/// numeric option of every command goes through here, so all read numbers the same way on every machine.
/// </summary>
/// <remarks>
/// System.CommandLine's own parser reads numbers in the current culture (<c>1,5</c> is 15 in English and 1.5 in
/// German) and reports failures with .NET type names. Here a value is a plain decimal number in the invariant
/// culture: an optional sign, ASCII digits, for float and double a <c>.</c> decimal point and an exponent (<c>1e-5</c>).
/// Thousands separators, decimal commas, hex, <c>_</c>, spaces, NaN and infinities are refused, as are values that
/// overflow the type or fall outside the range; each message names the option and states the range.
/// </remarks>
internal static partial class NumericOption
{
    /// <summary>Parses the option's value invariantly and checks it against <paramref name="range"/>.</summary>
    /// <returns><paramref name="option"/>, for use after an object initializer.</returns>
    public static Option<T> InRange<T>(this Option<T> option, NumericRange<T> range) where T : struct, INumber<T>, IMinMaxValue<T>
    {
        option.CustomParser = result => Parse(result, option.Name, range) ?? default;
        return option;
    }

    /// <summary>As <see cref="InRange{T}(Option{T}, NumericRange{T})"/>, for an option that may be left out (null then).</summary>
    public static Option<T?> InRange<T>(this Option<T?> option, NumericRange<T> range) where T : struct, INumber<T>, IMinMaxValue<T>
    {
        option.CustomParser = result => Parse(result, option.Name, range);
        return option;
    }

    /// <summary>Parses one number from <paramref name="text"/>; null (and <paramref name="error"/> set) when it is malformed or out of range.</summary>
    internal static T? TryParse<T>(string text, string name, NumericRange<T> range, out string? error) where T : struct, INumber<T>, IMinMaxValue<T>
    {
        bool integer = NumericRange<T>.IsInteger;
        if (!(integer ? IntegerSyntax() : DecimalSyntax()).IsMatch(text))
        {
            string how = integer ? "a whole number" : "a number in plain decimal notation, such as 0.75 or 1e-5 (with '.' as the decimal point)";
            error = $"{name}: '{text}' is not {how}; expected {range.Describe()}.";
            return null;
        }
        // The syntax is plain, so a failed parse (an integer too large for T) or an infinity (1e400) is an overflow.
        NumberStyles styles = integer ? NumberStyles.AllowLeadingSign : NumberStyles.Float;
        if (!T.TryParse(text, styles, CultureInfo.InvariantCulture, out T value) || !range.Contains(value))
        {
            error = $"{name}: {text} is out of range; expected {range.Describe()}.";
            return null;
        }
        error = null;
        return value;
    }

    private static T? Parse<T>(ArgumentResult result, string name, NumericRange<T> range) where T : struct, INumber<T>, IMinMaxValue<T>
    {
        string text = result.Tokens.Count == 0 ? "" : result.Tokens[0].Value;
        T? value = TryParse(text, name, range, out string? error);
        if (error is not null)
        {
            result.AddError(error);
        }
        return value;
    }

    // \z, not $: $ also matches before a final newline.
    [GeneratedRegex(@"^[+-]?[0-9]+\z", RegexOptions.CultureInvariant)]
    private static partial Regex IntegerSyntax();

    [GeneratedRegex(@"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?\z", RegexOptions.CultureInvariant)]
    private static partial Regex DecimalSyntax();
}
