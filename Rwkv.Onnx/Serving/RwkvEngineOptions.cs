namespace Rwkv.Onnx.Serving;

/// <summary>
/// Bounds and scheduling of an <see cref="RwkvEngine"/>. Immutable settings, validated when set; one object may serve
/// several engines.
/// </summary>
public sealed record RwkvEngineOptions
{
    /// <summary>The default of <see cref="MaxConcurrentSequences"/>.</summary>
    public const int DefaultMaxConcurrentSequences = 16;

    /// <summary>The default of <see cref="MaxQueuedRequests"/>.</summary>
    public const int DefaultMaxQueuedRequests = 64;

    /// <summary>The default of <see cref="PrefillChunkTokens"/>, equal to <see cref="RwkvModelOptions.DefaultPrefillChunkSize"/>.</summary>
    public const int DefaultPrefillChunkTokens = RwkvModelOptions.DefaultPrefillChunkSize;

    /// <summary>The default of <see cref="PrefixCacheBytes"/>: 256 MiB.</summary>
    public const long DefaultPrefixCacheBytes = 256L << 20;

    private readonly int _maxConcurrentSequences = DefaultMaxConcurrentSequences;
    private readonly int _maxQueuedRequests = DefaultMaxQueuedRequests;
    private readonly int _prefillChunkTokens = DefaultPrefillChunkTokens;
    private readonly long _prefixCacheBytes = DefaultPrefixCacheBytes;

    /// <summary>
    /// The most requests holding a row at once (being prefilled or decoding); the rows of the batched decode step.
    /// Default <see cref="DefaultMaxConcurrentSequences"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is less than 1.</exception>
    public int MaxConcurrentSequences
    {
        get => _maxConcurrentSequences;
        init
        {
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(value, nameof(MaxConcurrentSequences));
            _maxConcurrentSequences = value;
        }
    }

    /// <summary>
    /// The most requests admitted but waiting for a row; one more makes <see cref="RwkvEngine.Submit"/> throw
    /// <see cref="Exceptions.EngineQueueFullException"/>. 0 accepts only requests that get a row at once. Default <see cref="DefaultMaxQueuedRequests"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative.</exception>
    public int MaxQueuedRequests
    {
        get => _maxQueuedRequests;
        init
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value, nameof(MaxQueuedRequests));
            _maxQueuedRequests = value;
        }
    }

    /// <summary>
    /// Prompt tokens prefilled between two decode steps, for fairness: a long prompt is fed in slices of this many tokens,
    /// each followed by one decode step of every active sequence. Slices start at multiples of this length (and end at
    /// cache points), so when it is a multiple of the model's <see cref="RwkvModelOptions.PrefillChunkSize"/> a cold prompt
    /// without cache points is split exactly as <see cref="Generation.TextGenerator"/> splits it. Default <see cref="DefaultPrefillChunkTokens"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is less than 1.</exception>
    public int PrefillChunkTokens
    {
        get => _prefillChunkTokens;
        init
        {
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(value, nameof(PrefillChunkTokens));
            _prefillChunkTokens = value;
        }
    }

    /// <summary>
    /// Bytes of the prefix state cache (states and logits kept on the CPU, plus their token keys); the least recently used
    /// entries leave first. 0 disables the cache. Default <see cref="DefaultPrefixCacheBytes"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative.</exception>
    public long PrefixCacheBytes
    {
        get => _prefixCacheBytes;
        init
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value, nameof(PrefixCacheBytes));
            _prefixCacheBytes = value;
        }
    }
}
