using Rwkv.Onnx.Export;

namespace Rwkv.Onnx.Cli.Quantization;

/// <summary>
/// One export of the frontier: <c>fp32</c> (the reference), <c>fp16</c>, a ggml format emulated on float32 weights
/// (<c>q8_0</c>, <c>q4_0</c>, <c>q5_1</c>: rwkv.cpp's arithmetic, weights and activations; <c>q8_0-weights</c>,
/// <c>q4_0-weights</c>, <c>q5_1-weights</c>: the format's weight error alone), or an int8/int4 <see cref="QuantLayout"/>
/// (preset or spec).
/// </summary>
internal sealed record FrontierEntry(string Label, WeightDType DType, QuantLayout? Layout, EmulatedBlockFormat? Emulated,
    EmulatedArithmetic Arithmetic = EmulatedArithmetic.Ggml)
{
    /// <summary>The fp32 export every other entry is compared with.</summary>
    public static FrontierEntry Reference { get; } = new("fp32", WeightDType.Float32, null, null);

    /// <summary>Parses an entry as written on the command line.</summary>
    /// <exception cref="FormatException">Not fp32, fp16, q8_0, q4_0, q5_1 (optionally with -weights), a layout preset or a layout spec.</exception>
    public static FrontierEntry Parse(string text) => text switch
    {
        "fp32" => Reference,
        "fp16" => new(text, WeightDType.Float16, null, null),
        "q8_0" => new(text, WeightDType.Float32, null, EmulatedBlockFormat.Q8_0),
        "q4_0" => new(text, WeightDType.Float32, null, EmulatedBlockFormat.Q4_0),
        "q5_1" => new(text, WeightDType.Float32, null, EmulatedBlockFormat.Q5_1),
        "q8_0-weights" => new(text, WeightDType.Float32, null, EmulatedBlockFormat.Q8_0, EmulatedArithmetic.WeightsOnly),
        "q4_0-weights" => new(text, WeightDType.Float32, null, EmulatedBlockFormat.Q4_0, EmulatedArithmetic.WeightsOnly),
        "q5_1-weights" => new(text, WeightDType.Float32, null, EmulatedBlockFormat.Q5_1, EmulatedArithmetic.WeightsOnly),
        _ => FromLayout(text),
    };

    /// <summary>A directory name for the entry's export.</summary>
    public string DirectoryName => string.Concat(Label.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '_'));

    /// <summary>Export options for the entry, with the reference's group-norm epsilon; replaces an earlier export of it.</summary>
    public ExportOptions Options(float? groupNormEpsilon) => new()
    {
        WeightDType = DType,
        HeadWeightDType = Layout?.Head,
        BlockSize = Layout?.BlockSize,
        BlockRounding = Layout?.Rounding,
        Int8Roles = Layout?.Int8Roles,
        QuantizedCompute = Layout?.Compute ?? QuantizedCompute.Int8,
        EmulatedFormat = Emulated,
        EmulatedArithmetic = Arithmetic,
        GroupNormEpsilon = groupNormEpsilon,
        Overwrite = true,
    };

    private static FrontierEntry FromLayout(string text)
    {
        QuantLayout layout = QuantLayout.Parse(text);
        return new(layout.ToString(), layout.Bits, layout, null);
    }
}
