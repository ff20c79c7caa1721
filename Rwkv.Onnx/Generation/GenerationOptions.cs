using Rwkv.Onnx.Sampling;

namespace Rwkv.Onnx.Generation;

/// <summary>
/// Options of <see cref="TextGenerator"/> (the counterparts of Hugging Face's <c>max_new_tokens</c>, sampling
/// settings, <c>eos_token_id</c> and <c>stop_strings</c>). Every property is validated when set.
/// </summary>
public sealed class GenerationOptions
{
    /// <summary>The default of <see cref="MaxTokens"/>.</summary>
    public const int DefaultMaxTokens = 100;

    private readonly int _maxTokens = DefaultMaxTokens;
    private readonly ISampler _sampler = new GreedySampler();
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
    /// Chooses each next token. Default <see cref="GreedySampler"/>. A generation calls <see cref="ISampler.Reset"/>
    /// first and <see cref="ISampler.Accept"/> for every generated token; a stateful sampler serves one generation at a time.
    /// </summary>
    /// <exception cref="ArgumentNullException">The value is null.</exception>
    public ISampler Sampler
    {
        get => _sampler;
        init
        {
            ArgumentNullException.ThrowIfNull(value, nameof(Sampler));
            _sampler = value;
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
}
