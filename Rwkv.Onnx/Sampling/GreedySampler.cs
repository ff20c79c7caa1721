using System.Numerics.Tensors;

namespace Rwkv.Onnx.Sampling;

/// <summary>
/// Always chooses the token with the highest logit (the lowest id among equal maxima), after the optional
/// <see cref="BaseSampler.Penalties"/>. Without penalties it is stateless and thread-safe.
/// </summary>
public sealed class GreedySampler : BaseSampler
{
    /// <inheritdoc/>
    protected override int Choose(ReadOnlySpan<float> logits) => ArgMax(logits);

    /// <summary>Index of the largest logit; the first one when several are equal.</summary>
    /// <param name="logits">The logits.</param>
    /// <exception cref="ArgumentException"><paramref name="logits"/> is empty.</exception>
    internal static int ArgMax(ReadOnlySpan<float> logits)
    {
        if (logits.IsEmpty)
        {
            throw new ArgumentException("The logits span is empty; it must hold one score per vocabulary entry.", nameof(logits));
        }
        return TensorPrimitives.IndexOfMax(logits);
    }
}
