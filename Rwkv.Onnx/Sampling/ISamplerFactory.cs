namespace Rwkv.Onnx.Sampling;

/// <summary>
/// Creates the sampler of one sequence. <see cref="SamplingSettings"/> is the built-in factory; implement this to
/// plug in a sampler of your own (an <see cref="ISampler"/> or a <see cref="BaseSampler"/>).
/// </summary>
/// <remarks>
/// <see cref="Generation.GenerationOptions.Sampling"/> holds a factory, not a sampler, because a sampler holds the
/// state of one sequence (a random generator, penalty counts) while options may be shared by generations on several
/// threads and by several sequences of a batch (as onnxruntime-genai creates a generator per sequence).
/// </remarks>
public interface ISamplerFactory
{
    /// <summary>Creates a new sampler for one sequence.</summary>
    /// <returns>
    /// A sampler that no other sequence uses; never a shared or pooled instance. Called once per generation or batch
    /// sequence, possibly from several threads at once, so an implementation must be thread-safe.
    /// </returns>
    ISampler CreateSampler();
}
