namespace Rwkv.Onnx.Cli.Commands;

/// <summary>
/// The value of a choice option with the name it is written with on the command line. System.CommandLine's help
/// shows a default with <see cref="object.ToString"/>, so the name, not the enum member, is what it shows
/// (<c>[default: fp32]</c>, not <c>[default: Float32]</c>, which the parser would refuse).
/// </summary>
/// <typeparam name="T">The value type, usually an enum.</typeparam>
internal readonly record struct Choice<T>(string Name, T Value)
{
    /// <summary>The name.</summary>
    public override string ToString() => Name;

    /// <summary>The value, so that <c>parsed.GetValue(option)</c> reads as the enum it stands for.</summary>
    public static implicit operator T(Choice<T> choice) => choice.Value;
}
