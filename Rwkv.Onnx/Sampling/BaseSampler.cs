namespace Rwkv.Onnx.Sampling;

/// <summary>
/// Base of the samplers: applies <see cref="Penalties"/> to a copy of the logits, then lets the derived type
/// <see cref="Choose"/>; <see cref="Accept"/> and <see cref="Reset"/> keep the penalty counts.
/// </summary>
/// <remarks>Holds scratch buffers and counts: one instance per sequence, not thread-safe.</remarks>
public abstract class BaseSampler : ISampler
{
    private float[] _scratch = [];

    /// <summary>Presence and frequency penalties applied before choosing; null (default) for none.</summary>
    public PenaltyProcessor? Penalties { get; init; }

    /// <inheritdoc/>
    public int Sample(ReadOnlySpan<float> logits)
    {
        if (logits.IsEmpty)
        {
            throw new ArgumentException("The logits span is empty; it must hold one score per vocabulary entry.", nameof(logits));
        }
        if (Penalties is null || Penalties.DistinctTokenCount == 0)
        {
            return Choose(logits);
        }
        if (_scratch.Length != logits.Length)
        {
            _scratch = new float[logits.Length];
        }
        logits.CopyTo(_scratch);
        Penalties.Apply(_scratch);
        return Choose(_scratch);
    }

    /// <inheritdoc/>
    public void Accept(int token) => Penalties?.Accept(token);

    /// <inheritdoc/>
    public void Reset() => Penalties?.Reset();

    /// <summary>Chooses a token from logits that already carry the penalties.</summary>
    /// <param name="logits">The logits, at least one.</param>
    /// <returns>The chosen token id.</returns>
    protected abstract int Choose(ReadOnlySpan<float> logits);
}
