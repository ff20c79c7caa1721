namespace Rwkv.Onnx.Sampling;

/// <summary>
/// The sampling settings of a generation, as an immutable value: temperature, top-k, top-p, min-p, seed and
/// ChatRWKV's presence and frequency penalties with decay. Every generation (and every sequence of a batch) gets
/// its own sampler from <see cref="CreateSampler"/>, so one settings object can be shared freely, across threads too.
/// </summary>
/// <remarks>
/// The defaults (temperature 1, every filter off, no penalties) sample from the model's distribution as is;
/// <see cref="Greedy"/>, the default of <see cref="Generation.GenerationOptions.Sampling"/>, always picks the most
/// likely token. Every property is validated when set.
/// </remarks>
/// <example>
/// <code>
/// var chat = new SamplingSettings { Temperature = 1, TopP = 0.3f, PresencePenalty = 0.5f, FrequencyPenalty = 0.5f, PenaltyDecay = 0.996f };
/// var reproducible = chat with { Seed = 42 };
/// </code>
/// </example>
public sealed record SamplingSettings : ISamplerFactory
{
    private readonly float _temperature = 1f;
    private readonly float _topP = 1f;
    private readonly int _topK;
    private readonly float _minP;
    private readonly float _presencePenalty;
    private readonly float _frequencyPenalty;
    private readonly float _penaltyDecay = 1f;

    /// <summary>Always the most likely token (temperature 0, no penalties): the default of generation options.</summary>
    public static SamplingSettings Greedy { get; } = new() { Temperature = 0 };

    /// <summary>
    /// The recommended settings for continuing a text (the CLI's <c>generate</c> defaults, and the manifest's
    /// <c>generation.sampling.completion</c>): temperature 1, top-p 0.85, no penalties.
    /// </summary>
    public static SamplingSettings Completion { get; } = new() { Temperature = 1, TopP = 0.85f, PenaltyDecay = 0.996f };

    /// <summary>
    /// The recommended settings for chat (ChatRWKV's chat defaults; the CLI's <c>chat</c> defaults and the manifest's
    /// <c>generation.sampling.chat</c>): temperature 1, top-p 0.3, presence and frequency penalties 0.5 with decay 0.996.
    /// </summary>
    public static SamplingSettings Chat { get; } = new() { Temperature = 1, TopP = 0.3f, PresencePenalty = 0.5f, FrequencyPenalty = 0.5f, PenaltyDecay = 0.996f };

    /// <summary>Divides the logits before the softmax: below 1 sharpens, above 1 flattens, 0 means greedy. Default 1.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative, infinite or NaN.</exception>
    public float Temperature
    {
        get => _temperature;
        init => _temperature = SamplingChecks.Temperature(value, nameof(Temperature));
    }

    /// <summary>Cumulative probability of the nucleus, in (0, 1]; 1 (default) keeps every token.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not in (0, 1].</exception>
    public float TopP
    {
        get => _topP;
        init => _topP = SamplingChecks.TopP(value, nameof(TopP));
    }

    /// <summary>Keeps only the k most likely tokens before top-p; 0 (default) keeps all.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative.</exception>
    public int TopK
    {
        get => _topK;
        init => _topK = SamplingChecks.TopK(value, nameof(TopK));
    }

    /// <summary>Keeps only tokens at least this fraction as likely as the most likely one, in [0, 1]; 0 (default) keeps all.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not in [0, 1].</exception>
    public float MinP
    {
        get => _minP;
        init => _minP = SamplingChecks.MinP(value, nameof(MinP));
    }

    /// <summary>
    /// Seed of each sampler's random generator: every generation with these settings draws the same numbers, so the
    /// same prompt gives the same text. Null (default) seeds each sampler from the system.
    /// </summary>
    public int? Seed { get; init; }

    /// <summary>Subtracted once from the logit of every token the sequence has generated. Default 0.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is infinite or NaN.</exception>
    public float PresencePenalty
    {
        get => _presencePenalty;
        init => _presencePenalty = SamplingChecks.Penalty(value, nameof(PresencePenalty));
    }

    /// <summary>Subtracted per (decayed) occurrence from the logit of every token the sequence has generated. Default 0.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is infinite or NaN.</exception>
    public float FrequencyPenalty
    {
        get => _frequencyPenalty;
        init => _frequencyPenalty = SamplingChecks.Penalty(value, nameof(FrequencyPenalty));
    }

    /// <summary>
    /// Factor, in (0, 1], applied to every occurrence count before each generated token; 1 (default) never forgets.
    /// ChatRWKV uses 0.996. No effect while both penalties are 0.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not in (0, 1].</exception>
    public float PenaltyDecay
    {
        get => _penaltyDecay;
        init => _penaltyDecay = SamplingChecks.Decay(value, nameof(PenaltyDecay));
    }

    /// <summary>
    /// A new sampler with these settings and fresh state (random generator, penalty counts): a
    /// <see cref="GreedySampler"/> at temperature 0, otherwise a <see cref="TopPSampler"/>; with a
    /// <see cref="PenaltyProcessor"/> when a penalty is non-zero. Thread-safe.
    /// </summary>
    /// <returns>The sampler, for one sequence.</returns>
    public ISampler CreateSampler()
    {
        PenaltyProcessor? penalties = _presencePenalty == 0 && _frequencyPenalty == 0
            ? null
            : new PenaltyProcessor { PresencePenalty = _presencePenalty, FrequencyPenalty = _frequencyPenalty, Decay = _penaltyDecay };
        // TopPSampler is greedy at temperature 0 too; GreedySampler says so and skips the random generator.
        return _temperature == 0
            ? new GreedySampler { Penalties = penalties }
            : new TopPSampler { Temperature = _temperature, TopP = _topP, TopK = _topK, MinP = _minP, Seed = Seed, Penalties = penalties };
    }
}
