using System.Numerics.Tensors;

namespace Rwkv.Onnx.Sampling;

/// <summary>
/// Temperature, top-k, top-p (nucleus) and min-p sampling, in the order of Hugging Face's logits warpers: after the
/// optional <see cref="BaseSampler.Penalties"/>, the logits are divided by <see cref="Temperature"/> and turned into
/// probabilities; only the <see cref="TopK"/> most likely tokens are kept (all when 0), then the smallest set of most
/// likely tokens whose probability adds up to at least <see cref="TopP"/>, then those whose probability is at least
/// <see cref="MinP"/> times the largest; one token is drawn from the renormalised remainder with <see cref="Random"/>.
/// </summary>
/// <remarks>
/// Temperature 0 or top-k 1 is greedy (<see cref="GreedySampler"/>). With a <see cref="Seed"/>, the sequence of
/// choices for the same sequence of logits (and accepted tokens) is reproducible. Holds a random generator,
/// penalty counts and scratch buffers: one instance per sequence, not thread-safe.
/// </remarks>
public sealed class TopPSampler : BaseSampler
{
    private readonly float _temperature = 1.0f;
    private readonly float _topP = 1.0f;
    private readonly int _topK;
    private readonly float _minP;
    private Random? _random;
    private float[] _probabilities = [];
    private int[] _order = [];

    /// <summary>Divides the logits before the softmax: below 1 sharpens, above 1 flattens, 0 means greedy. Default 1.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative, infinite or NaN.</exception>
    public float Temperature
    {
        get => _temperature;
        init => _temperature = SamplingChecks.Temperature(value, nameof(Temperature));
    }

    /// <summary>Cumulative probability of the nucleus, in (0, 1]; 1 keeps every token. Default 1.</summary>
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

    /// <summary>
    /// Keeps only tokens whose probability (after temperature) is at least this fraction of the most likely token's,
    /// in [0, 1]; 0 (default) keeps all.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not in [0, 1].</exception>
    public float MinP
    {
        get => _minP;
        init => _minP = SamplingChecks.MinP(value, nameof(MinP));
    }

    /// <summary>Seed of the random generator; null (default) seeds from the system.</summary>
    public int? Seed { get; init; }

    /// <inheritdoc/>
    protected override int Choose(ReadOnlySpan<float> logits)
    {
        int greedy = GreedySampler.ArgMax(logits);
        if (_temperature == 0 || _topK == 1 || logits.Length == 1)
        {
            return greedy;
        }
        EnsureCapacity(logits.Length);
        Span<float> probabilities = _probabilities.AsSpan(0, logits.Length);
        Span<int> order = _order.AsSpan(0, logits.Length);

        // p_i = exp((l_i - max) / T) / sum_j exp((l_j - max) / T)
        TensorPrimitives.Subtract(logits, logits[greedy], probabilities);
        TensorPrimitives.Divide(probabilities, _temperature, probabilities);
        TensorPrimitives.Exp(probabilities, probabilities);
        TensorPrimitives.Divide(probabilities, TensorPrimitives.Sum(probabilities), probabilities);

        for (int i = 0; i < order.Length; i++)
        {
            order[i] = i;
        }
        order.Sort(new DescendingProbability(_probabilities));

        int kept = _topK == 0 ? order.Length : Math.Min(_topK, order.Length);
        if (_topP < 1)
        {
            // The smallest prefix whose mass reaches TopP (always at least one token).
            double mass = 0;
            for (int i = 0; i < kept; i++)
            {
                mass += probabilities[order[i]];
                if (mass >= _topP)
                {
                    kept = i + 1;
                    break;
                }
            }
        }

        if (_minP > 0)
        {
            // Sorted descending: cut at the first token below MinP times the largest probability.
            float threshold = _minP * probabilities[order[0]];
            for (int i = 1; i < kept; i++)
            {
                if (probabilities[order[i]] < threshold)
                {
                    kept = i;
                    break;
                }
            }
        }

        double total = 0;
        for (int i = 0; i < kept; i++)
        {
            total += probabilities[order[i]];
        }
        _random ??= Seed is int seed ? new Random(seed) : new Random();
        double target = _random.NextDouble() * total;
        double cumulative = 0;
        for (int i = 0; i < kept; i++)
        {
            cumulative += probabilities[order[i]];
            if (target < cumulative)
            {
                return order[i];
            }
        }
        return order[kept - 1];   // rounding: target landed on the total
    }

    private void EnsureCapacity(int vocab)
    {
        if (_probabilities.Length < vocab)
        {
            _probabilities = new float[vocab];
            _order = new int[vocab];
        }
    }

    // Higher probability first; equal probabilities by ascending id, so the order is deterministic.
    private readonly struct DescendingProbability(float[] probabilities) : IComparer<int>
    {
        public int Compare(int x, int y)
        {
            int byProbability = probabilities[y].CompareTo(probabilities[x]);
            return byProbability != 0 ? byProbability : x.CompareTo(y);
        }
    }
}
