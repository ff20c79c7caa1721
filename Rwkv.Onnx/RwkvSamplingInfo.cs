using Rwkv.Onnx.Sampling;

namespace Rwkv.Onnx;

/// <summary>
/// Sampling settings as the manifest records them, applied in this order to the float32 logits of each step: the
/// penalties, then temperature, top-k, top-p and min-p (see <see cref="SamplingSettings"/>, whose values these are).
/// </summary>
public sealed record RwkvSamplingInfo
{
    /// <summary>Divides the logits before the softmax; 0 means greedy.</summary>
    public required float Temperature { get; init; }

    /// <summary>Nucleus probability mass, in (0, 1]; 1 keeps every token.</summary>
    public required float TopP { get; init; }

    /// <summary>Keeps only the k most likely tokens; 0 keeps all.</summary>
    public required int TopK { get; init; }

    /// <summary>Drops tokens less likely than this fraction of the most likely one; 0 is off.</summary>
    public required float MinP { get; init; }

    /// <summary>Subtracted once from the logit of every token generated so far.</summary>
    public required float PresencePenalty { get; init; }

    /// <summary>Subtracted per (decayed) occurrence from the logit of every token generated so far.</summary>
    public required float FrequencyPenalty { get; init; }

    /// <summary>Factor applied to the occurrence counts before each new token, in (0, 1].</summary>
    public required float PenaltyDecay { get; init; }

    /// <summary>The manifest form of <paramref name="settings"/> (the seed is not recorded).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="settings"/> is null.</exception>
    public static RwkvSamplingInfo From(SamplingSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return new RwkvSamplingInfo
        {
            Temperature = settings.Temperature,
            TopP = settings.TopP,
            TopK = settings.TopK,
            MinP = settings.MinP,
            PresencePenalty = settings.PresencePenalty,
            FrequencyPenalty = settings.FrequencyPenalty,
            PenaltyDecay = settings.PenaltyDecay,
        };
    }

    /// <summary>These values as sampling settings (no seed), e.g. a manifest preset for requests that leave fields out.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is outside the range <see cref="SamplingSettings"/> accepts.</exception>
    public SamplingSettings ToSettings() => new()
    {
        Temperature = Temperature,
        TopP = TopP,
        TopK = TopK,
        MinP = MinP,
        PresencePenalty = PresencePenalty,
        FrequencyPenalty = FrequencyPenalty,
        PenaltyDecay = PenaltyDecay,
    };
}
