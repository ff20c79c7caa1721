using Rwkv.Onnx.Sampling;

namespace Rwkv.Onnx.Generation;

/// <summary>
/// Options of <see cref="TextGenerator"/> (the counterparts of Hugging Face's <c>max_new_tokens</c>, sampling
/// settings, <c>eos_token_id</c> and <c>stop_strings</c>). Every property is validated when set.
/// </summary>
/// <remarks>
/// Immutable settings, no running state: one options object can serve any number of generations, concurrently too.
/// Each generation and each batch sequence creates its own sampler from <see cref="Sampling"/>.
/// </remarks>
public sealed class GenerationOptions
{
    /// <summary>The default of <see cref="MaxTokens"/>.</summary>
    public const int DefaultMaxTokens = 100;

    private readonly int _maxTokens = DefaultMaxTokens;
    private readonly ISamplerFactory _sampling = SamplingSettings.Greedy;
    private readonly IReadOnlyList<int> _stopTokens = [];
    private readonly IReadOnlyList<string> _stopStrings = [];

    /// <summary>How many tokens to generate after the prompt at most; 0 only prefills. Default <see cref="DefaultMaxTokens"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative.</exception>
    public int MaxTokens
    {
        get => _maxTokens;
        init
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value, nameof(MaxTokens));
            _maxTokens = value;
        }
    }

    /// <summary>
    /// How each next token is chosen: usually a <see cref="SamplingSettings"/>, or your own <see cref="ISamplerFactory"/>
    /// for a custom sampler. Default <see cref="SamplingSettings.Greedy"/>. Every generation (every batch sequence)
    /// calls <see cref="ISamplerFactory.CreateSampler"/> once and keeps the sampler to itself.
    /// </summary>
    /// <exception cref="ArgumentNullException">The value is null.</exception>
    public ISamplerFactory Sampling
    {
        get => _sampling;
        init
        {
            ArgumentNullException.ThrowIfNull(value, nameof(Sampling));
            _sampling = value;
        }
    }

    /// <summary>
    /// Token ids that end generation when sampled; the stop token is neither part of the result nor fed to the
    /// model. Default none (see also <see cref="StopAtEndOfText"/>).
    /// </summary>
    /// <exception cref="ArgumentNullException">The value is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An id is negative.</exception>
    public IReadOnlyList<int> StopTokens
    {
        get => _stopTokens;
        init
        {
            ArgumentNullException.ThrowIfNull(value, nameof(StopTokens));
            if (value.Any(id => id < 0))
            {
                throw new ArgumentOutOfRangeException(nameof(StopTokens), $"Stop token ids must be 0 or more; got [{string.Join(", ", value)}].");
            }
            _stopTokens = [.. value];
        }
    }

    /// <summary>Also stop at the tokenizer's <see cref="Tokenization.ByteLevelTokenizer.EndOfTextId"/>, if it has one. Default true.</summary>
    public bool StopAtEndOfText { get; init; } = true;

    /// <summary>
    /// Texts that end generation when the generated text contains them, even across token boundaries. The stop
    /// text and anything after it are not returned; the tokens that produced it are in
    /// <see cref="GenerationResult.Tokens"/> and were fed to the model. Default none.
    /// </summary>
    /// <exception cref="ArgumentNullException">The value is null.</exception>
    /// <exception cref="ArgumentException">A stop string is null or empty.</exception>
    public IReadOnlyList<string> StopStrings
    {
        get => _stopStrings;
        init
        {
            ArgumentNullException.ThrowIfNull(value, nameof(StopStrings));
            if (value.Any(string.IsNullOrEmpty))
            {
                throw new ArgumentException("Stop strings must not be null or empty.", nameof(StopStrings));
            }
            _stopStrings = [.. value];
        }
    }

    /// <summary>The sampler of one new sequence, from <see cref="Sampling"/>.</summary>
    /// <exception cref="InvalidOperationException">A custom factory returned null.</exception>
    internal ISampler CreateSampler() =>
        _sampling.CreateSampler()
        ?? throw new InvalidOperationException($"The sampler factory {_sampling.GetType().Name} returned null; {nameof(ISamplerFactory.CreateSampler)} must return a new sampler.");
}
