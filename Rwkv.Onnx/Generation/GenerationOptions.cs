using Rwkv.Onnx.Sampling;

namespace Rwkv.Onnx.Generation;

/// <summary>Options of <see cref="TextGenerator.Generate"/>. Every property is validated when set.</summary>
public sealed class GenerationOptions
{
    /// <summary>The default of <see cref="MaxTokens"/>.</summary>
    public const int DefaultMaxTokens = 100;

    private readonly int _maxTokens = DefaultMaxTokens;
    private readonly ISampler _sampler = new GreedySampler();

    /// <summary>How many tokens to generate after the prompt; 0 only prefills. Default <see cref="DefaultMaxTokens"/>.</summary>
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

    /// <summary>Chooses each next token. Default <see cref="GreedySampler"/>. A stateful sampler is used by one generation at a time.</summary>
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
}
