using System.Text.Json.Serialization;

namespace Rwkv.Onnx.Cli.Quantization;

/// <summary>
/// One entry's measurements against the fp32 export, on the same tokens.
/// </summary>
/// <param name="Label">The entry as given (preset, spec, fp16, q8_0...).</param>
/// <param name="LastMeanAbs">Mean |Δlogit| at the last position.</param>
/// <param name="LastMaxAbs">Max |Δlogit| at the last position.</param>
/// <param name="MeanAbs">Mean |Δlogit| over every position.</param>
/// <param name="MaxAbs">Max |Δlogit| over every position.</param>
/// <param name="Top1">Share of positions whose argmax agrees with fp32's.</param>
/// <param name="StepVsPrefillMaxAbs">Max |Δlogit| between the entry's own step graph and prefill graph, over every position.</param>
/// <param name="WeightsBytes">Size of the weights file.</param>
internal sealed record FrontierRow(
    string Label, double LastMeanAbs, double LastMaxAbs, double MeanAbs, double MaxAbs, double Top1, double StepVsPrefillMaxAbs, long WeightsBytes)
{
    /// <summary>Median decode tokens/s over the speed rounds (batch <see cref="FrontierReport.Batch"/>); null without speed rounds.</summary>
    public double? DecodeTokensPerS { get; init; }

    /// <summary>Median over rounds of this entry's decode speed divided by fp32's in the same round; null without speed rounds.</summary>
    [JsonPropertyName("decode_vs_fp32")]
    public double? DecodeVsFp32 { get; init; }
}
