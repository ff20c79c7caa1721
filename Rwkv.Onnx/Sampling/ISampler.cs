namespace Rwkv.Onnx.Sampling;

/// <summary>Chooses the next token from a vector of logits.</summary>
/// <remarks>A sampler may keep state (a random generator, scratch buffers); use one per conversation, not from several threads.</remarks>
public interface ISampler
{
    /// <summary>Chooses a token.</summary>
    /// <param name="logits">Unnormalised scores, one per vocabulary entry (<c>[vocab]</c>); not modified.</param>
    /// <returns>The chosen token id, an index into <paramref name="logits"/>.</returns>
    /// <exception cref="ArgumentException"><paramref name="logits"/> is empty.</exception>
    int Sample(ReadOnlySpan<float> logits);
}
