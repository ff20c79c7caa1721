namespace Rwkv.Onnx.Cli.Verification;

/// <summary>Runs one token sequence through a candidate and a reference model and compares their logits position by position.</summary>
internal static class ExportVerifier
{
    private const int Chunk = 64;

    /// <summary>
    /// Compares every position's logits. With <paramref name="perplexity"/>, position t also scores token t+1,
    /// giving each model's perplexity over the sequence (the last position has no next token). Sizes on disk are left 0.
    /// With <paramref name="referenceSource"/> (what the reference is, for the message), a non-finite reference logit
    /// throws <see cref="Exceptions.NonFiniteValueException"/> naming the position; the candidate checks its own through
    /// <see cref="RwkvModelOptions.CheckFiniteLogits"/>.
    /// </summary>
    public static VerifyReport Compare(RwkvModel candidate, RwkvModel reference, ReadOnlySpan<int> tokens, bool perplexity, string? referenceSource = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(tokens.Length, 2, nameof(tokens));
        int vocab = reference.VocabSize;
        if (candidate.VocabSize != vocab)
        {
            throw new ArgumentException($"The candidate has a vocabulary of {candidate.VocabSize} tokens; the reference has {vocab}.", nameof(candidate));
        }
        using RwkvRunner candidateRunner = candidate.CreateRunner(), referenceRunner = reference.CreateRunner();
        using RwkvState candidateState = candidate.CreateState(), referenceState = reference.CreateState();
        var a = new float[Chunk * vocab];
        var b = new float[Chunk * vocab];
        double max = 0, sum = 0, nll = 0, referenceNll = 0, variance = 0, margin = 0;
        int agree = 0;
        for (int start = 0; start < tokens.Length; start += Chunk)
        {
            ReadOnlySpan<int> chunk = tokens.Slice(start, Math.Min(Chunk, tokens.Length - start));
            candidateRunner.ForwardAll(chunk, candidateState, a.AsSpan(0, chunk.Length * vocab), RwkvForwardMode.Prefill);
            referenceRunner.ForwardAll(chunk, referenceState, b.AsSpan(0, chunk.Length * vocab), RwkvForwardMode.Prefill);
            if (referenceSource is not null)
            {
                ThrowIfNonFinite(b.AsSpan(0, chunk.Length * vocab), vocab, tokens, start, referenceSource);
            }
            for (int t = 0; t < chunk.Length; t++)
            {
                ReadOnlySpan<float> x = a.AsSpan(t * vocab, vocab), y = b.AsSpan(t * vocab, vocab);
                for (int i = 0; i < vocab; i++)
                {
                    double d = Math.Abs(x[i] - y[i]);
                    max = Math.Max(max, d);
                    sum += d;
                }
                agree += ArgMax(x) == ArgMax(y) ? 1 : 0;
                variance += Variance(y);
                margin += TopMargin(y);
                int position = start + t;
                if (perplexity && position + 1 < tokens.Length)
                {
                    nll += NegativeLogLikelihood(x, tokens[position + 1]);
                    referenceNll += NegativeLogLikelihood(y, tokens[position + 1]);
                }
            }
        }
        int n = tokens.Length;
        return new VerifyReport(
            candidate.Manifest.WeightDType, candidate.Manifest.HeadDType, candidate.Manifest.BlockSize, candidate.Manifest.QuantizedCompute, n,
            max, sum / ((double)n * vocab), (double)agree / n,
            perplexity ? Math.Exp(nll / (n - 1)) : null, perplexity ? Math.Exp(referenceNll / (n - 1)) : null,
            SizeOnDiskBytes: 0, ReferenceSizeOnDiskBytes: 0)
        {
            ReferenceLogitStd = Math.Sqrt(variance / n),
            ReferenceTop1Margin = margin / n,
        };
    }

    private static void ThrowIfNonFinite(ReadOnlySpan<float> logits, int vocab, ReadOnlySpan<int> tokens, int start, string source)
    {
        if (System.Numerics.Tensors.TensorPrimitives.IsFiniteAll(logits))
        {
            return;
        }
        int index = 0;
        while (float.IsFinite(logits[index]))
        {
            index++;
        }
        int position = start + (index / vocab);
        float value = logits[index];
        string what = float.IsNaN(value) ? "NaN" : value > 0 ? "+Infinity" : "-Infinity";
        throw new Exceptions.NonFiniteValueException(RwkvContract.LogitsOutput, ((long)position * vocab) + (index % vocab), value,
            $"{char.ToUpperInvariant(source[0])}{source[1..]} produced {what} at logit {index % vocab} (of {vocab}) after the token at position " +
            $"{position} (id {tokens[position]}; positions count from 0, {tokens.Length} tokens); every logit must be finite: the checkpoint's " +
            "weights are corrupted or the arithmetic overflowed.");
    }

    private static double Variance(ReadOnlySpan<float> x)
    {
        double mean = 0, squares = 0;
        foreach (float v in x)
        {
            mean += v;
        }
        mean /= x.Length;
        foreach (float v in x)
        {
            squares += (v - mean) * (v - mean);
        }
        return squares / x.Length;
    }

    // Largest minus second-largest logit: how far a perturbation must move a logit to change the greedy token.
    private static double TopMargin(ReadOnlySpan<float> x)
    {
        float first = float.NegativeInfinity, second = float.NegativeInfinity;
        foreach (float v in x)
        {
            if (v > first)
            {
                (first, second) = (v, first);
            }
            else if (v > second)
            {
                second = v;
            }
        }
        return first - second;
    }

    private static int ArgMax(ReadOnlySpan<float> x)
    {
        int best = 0;
        for (int i = 1; i < x.Length; i++)
        {
            if (x[i] > x[best])
            {
                best = i;
            }
        }
        return best;
    }

    // −log softmax(x)[target], computed stably: log Σ exp(x − max) + max − x[target]
    private static double NegativeLogLikelihood(ReadOnlySpan<float> x, int target)
    {
        double max = double.NegativeInfinity;
        foreach (float v in x)
        {
            max = Math.Max(max, v);
        }
        double sum = 0;
        foreach (float v in x)
        {
            sum += Math.Exp(v - max);
        }
        return Math.Log(sum) + max - x[target];
    }
}
