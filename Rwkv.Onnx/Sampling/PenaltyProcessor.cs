using System.Runtime.InteropServices;

namespace Rwkv.Onnx.Sampling;

/// <summary>
/// Presence and frequency penalties with decay, as RWKV chat front-ends (ChatRWKV, RWKV Runner) apply them: every
/// token that occurred gets <c>logit -= PresencePenalty + occurrence · FrequencyPenalty</c>, where a token's
/// occurrence grows by 1 each time it is accepted and every occurrence is multiplied by <see cref="Decay"/> before
/// each accepted token, so old repetitions weigh less.
/// </summary>
/// <remarks>
/// Tokens in <see cref="ExemptTokens"/> (ChatRWKV exempts whitespace and digits) are recorded with weight 0: they get
/// the presence penalty once seen but no frequency penalty. Holds per-sequence counts: one instance per sequence,
/// not thread-safe.
/// </remarks>
public sealed class PenaltyProcessor
{
    private readonly float _presencePenalty;
    private readonly float _frequencyPenalty;
    private readonly float _decay = 1f;
    private readonly List<int> _tokens = [];
    private readonly List<float> _occurrences = [];
    private readonly Dictionary<int, int> _index = [];

    /// <summary>Subtracted once from the logit of every token that occurred. Default 0.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is infinite or NaN.</exception>
    public float PresencePenalty
    {
        get => _presencePenalty;
        init => _presencePenalty = SamplingChecks.Penalty(value, nameof(PresencePenalty));
    }

    /// <summary>Subtracted per (decayed) occurrence from the logit of every token that occurred. Default 0.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is infinite or NaN.</exception>
    public float FrequencyPenalty
    {
        get => _frequencyPenalty;
        init => _frequencyPenalty = SamplingChecks.Penalty(value, nameof(FrequencyPenalty));
    }

    /// <summary>Factor, in (0, 1], applied to every occurrence before each accepted token; 1 (default) never forgets. ChatRWKV uses 0.996.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not in (0, 1].</exception>
    public float Decay
    {
        get => _decay;
        init => _decay = SamplingChecks.Decay(value, nameof(Decay));
    }

    /// <summary>Tokens that count with weight 0 (presence penalty only), e.g. the ids of space, tab and the digits. Default none.</summary>
    public IReadOnlySet<int> ExemptTokens { get; init; } = new HashSet<int>();

    /// <summary>The number of distinct tokens accepted since the last <see cref="Reset"/>.</summary>
    public int DistinctTokenCount => _tokens.Count;

    /// <summary>The decayed occurrence count of <paramref name="token"/>; 0 if it has not occurred.</summary>
    /// <param name="token">The token id.</param>
    public float Occurrence(int token) => _index.TryGetValue(token, out int i) ? _occurrences[i] : 0;

    /// <summary>Subtracts the penalties, in place, from the logits of the tokens that occurred.</summary>
    /// <param name="logits">One logit per vocabulary entry.</param>
    /// <exception cref="ArgumentException">An occurred token is outside <paramref name="logits"/>.</exception>
    public void Apply(Span<float> logits)
    {
        for (int i = 0; i < _tokens.Count; i++)
        {
            int token = _tokens[i];
            if ((uint)token >= (uint)logits.Length)
            {
                throw new ArgumentException($"Token {token} occurred but the logits span has only {logits.Length} entries.", nameof(logits));
            }
            logits[token] -= _presencePenalty + (_occurrences[i] * _frequencyPenalty);
        }
    }

    /// <summary>Decays every occurrence by <see cref="Decay"/>, then counts <paramref name="token"/> once (with weight 0 if exempt).</summary>
    /// <param name="token">The token the sequence continued with.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="token"/> is negative.</exception>
    public void Accept(int token)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(token);
        if (_decay != 1f)
        {
            foreach (ref float occurrence in CollectionsMarshal.AsSpan(_occurrences))
            {
                occurrence *= _decay;
            }
        }
        float weight = ExemptTokens.Contains(token) ? 0f : 1f;
        if (_index.TryGetValue(token, out int i))
        {
            _occurrences[i] += weight;
        }
        else
        {
            _index.Add(token, _tokens.Count);
            _tokens.Add(token);
            _occurrences.Add(weight);
        }
    }

    /// <summary>Forgets every occurrence.</summary>
    public void Reset()
    {
        _tokens.Clear();
        _occurrences.Clear();
        _index.Clear();
    }
}
