using System.Text.Json.Serialization;

namespace Rwkv.Onnx.Cli.Verification;

/// <summary>How an export's logits compare with an fp32 reference export of the same checkpoint over one token sequence.</summary>
/// <param name="WeightDType">The candidate's weight dtype (manifest).</param>
/// <param name="HeadDType">The candidate's head dtype (manifest).</param>
/// <param name="BlockSize">The candidate's quantization block size, if quantized.</param>
/// <param name="QuantizedCompute">The candidate's quantized-matmul arithmetic (manifest), if quantized.</param>
/// <param name="Tokens">Positions compared.</param>
/// <param name="MaxAbsLogitError">max over positions and vocabulary of |candidate − reference|.</param>
/// <param name="MeanAbsLogitError">mean over positions and vocabulary of |candidate − reference|.</param>
/// <param name="Top1Agreement">Fraction of positions whose argmax logits agree.</param>
/// <param name="Perplexity">The candidate's perplexity on the text (next-byte prediction), or null without a text.</param>
/// <param name="ReferencePerplexity">The reference's perplexity on the same text, or null.</param>
/// <param name="SizeOnDiskBytes">Bytes of the candidate directory on disk (graphs, weights, manifest).</param>
/// <param name="ReferenceSizeOnDiskBytes">Bytes of the fp32 reference directory on disk.</param>
/// <param name="LoadMilliseconds">Wall time of <see cref="RwkvModel.Load"/> for the candidate (both sessions).</param>
/// <param name="ReferenceLoadMilliseconds">The same for the fp32 reference.</param>
internal sealed record VerifyReport(
    [property: JsonPropertyName("weight_dtype")] string WeightDType, [property: JsonPropertyName("head_dtype")] string? HeadDType, int? BlockSize,
    string? QuantizedCompute, int Tokens,
    double MaxAbsLogitError, double MeanAbsLogitError, double Top1Agreement,
    double? Perplexity, double? ReferencePerplexity, long SizeOnDiskBytes, long ReferenceSizeOnDiskBytes,
    double LoadMilliseconds = 0, double ReferenceLoadMilliseconds = 0)
{
    /// <summary>The reference's logit standard deviation over the vocabulary, root-mean-square over positions: the scale errors compare with.</summary>
    public double ReferenceLogitStd { get; init; }

    /// <summary>The reference's mean gap between its largest and second-largest logit: small gaps make top-1 agreement fragile.</summary>
    public double ReferenceTop1Margin { get; init; }
}
