using System.Globalization;
using System.Numerics;

namespace Rwkv.Onnx.Cli.Commands;

/// <summary>The values a numeric option accepts: <see cref="Minimum"/> (inclusive unless <see cref="ExcludesMinimum"/>) to <see cref="Maximum"/> (inclusive).</summary>
/// <typeparam name="T">int, long, float or double.</typeparam>
internal readonly record struct NumericRange<T>(T Minimum, T Maximum, bool ExcludesMinimum = false)
    where T : struct, INumber<T>, IMinMaxValue<T>
{
    /// <summary>Whether <paramref name="value"/> is in the range; NaN and infinities never are.</summary>
    public bool Contains(T value) =>
        T.IsFinite(value) && (ExcludesMinimum ? value > Minimum : value >= Minimum) && value <= Maximum;

    /// <summary>The range in words, with the kind of number: e.g. <c>a whole number from 0 to 8</c>, <c>a number greater than 0 and at most 1</c>.</summary>
    public string Describe()
    {
        string kind = IsInteger ? "whole number" : "number";
        bool bounded = Maximum != T.MaxValue;
        if (Minimum == T.MinValue && !bounded)
        {
            return IsInteger ? "any whole number" : "any finite number";
        }
        if (ExcludesMinimum)
        {
            return bounded ? $"a {kind} greater than {Format(Minimum)} and at most {Format(Maximum)}" : $"a {kind} greater than {Format(Minimum)}";
        }
        return bounded ? $"a {kind} from {Format(Minimum)} to {Format(Maximum)}" : $"a {kind}, {Format(Minimum)} or more";
    }

    /// <summary>True for the integer types, whose values are written without a decimal point or exponent.</summary>
    public static bool IsInteger { get; } = !(typeof(T) == typeof(float) || typeof(T) == typeof(double) || typeof(T) == typeof(Half));

    private static string Format(T value) => value.ToString(null, CultureInfo.InvariantCulture);
}

/// <summary>Creates <see cref="NumericRange{T}"/> values.</summary>
internal static class NumericRange
{
    /// <summary><paramref name="minimum"/> to <paramref name="maximum"/>, both included.</summary>
    public static NumericRange<T> From<T>(T minimum, T maximum) where T : struct, INumber<T>, IMinMaxValue<T> => new(minimum, maximum);

    /// <summary><paramref name="minimum"/> or more.</summary>
    public static NumericRange<T> AtLeast<T>(T minimum) where T : struct, INumber<T>, IMinMaxValue<T> => new(minimum, T.MaxValue);

    /// <summary>More than <paramref name="minimum"/>, up to and including <paramref name="maximum"/>.</summary>
    public static NumericRange<T> Above<T>(T minimum, T maximum) where T : struct, INumber<T>, IMinMaxValue<T> => new(minimum, maximum, ExcludesMinimum: true);

    /// <summary>Any finite value of <typeparamref name="T"/>.</summary>
    public static NumericRange<T> Any<T>() where T : struct, INumber<T>, IMinMaxValue<T> => new(T.MinValue, T.MaxValue);
}
