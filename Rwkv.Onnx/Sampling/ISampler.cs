namespace Rwkv.Onnx.Sampling;

/// <summary>Chooses the next token from a vector of logits.</summary>
/// <remarks>
/// A sampler may keep state (a random generator, penalty counts, scratch buffers): use one per sequence, not from
/// several threads. A generation loop calls <see cref="Sample"/>, then <see cref="Accept"/> with the token the
/// sequence continued with, and <see cref="Reset"/> before a new sequence.
/// </remarks>
public interface ISampler
{
    /// <summary>Chooses a token.</summary>
    /// <param name="logits">Unnormalised scores, one per vocabulary entry (<c>[vocab]</c>); not modified.</param>
    /// <returns>The chosen token id, an index into <paramref name="logits"/>.</returns>
    /// <exception cref="ArgumentException"><paramref name="logits"/> is empty.</exception>
    int Sample(ReadOnlySpan<float> logits);

    /// <summary>Records that the sequence continued with <paramref name="token"/> (penalties count it). The default does nothing.</summary>
    /// <param name="token">The token id.</param>
    void Accept(int token)
    {
    }

    /// <summary>Forgets the accepted tokens, before a new sequence. The random generator is not reseeded. The default does nothing.</summary>
    void Reset()
    {
    }
}
