using Rwkv.Onnx.Export.Checkpoints;

namespace Rwkv.Onnx.Export.RandomCheckpoints;

/// <summary>
/// Writes seeded random-weight RWKV checkpoints of real shapes in rwkv.cpp's <c>.bin</c> layout, for benchmarks and
/// tests that need a model of a given size without a download. The weights are scaled so activations stay near unit
/// size and the logits vary; the models are numerically interesting, not trained. The same arguments write the same bytes.
/// </summary>
public static class RwkvRandomCheckpoint
{
    /// <summary>Writes a random checkpoint of RWKV <paramref name="version"/> to <paramref name="path"/>, one tensor at a time.</summary>
    /// <param name="path">The <c>.bin</c> file to create; an existing file is replaced.</param>
    /// <param name="version"><c>4</c>, <c>5.0</c>, <c>5.1</c>, <c>5.2</c>, <c>6</c> or <c>7</c> (ChatRWKV's names).</param>
    /// <param name="layers">Number of blocks.</param>
    /// <param name="embd">Width C; for versions 5 to 7 a multiple of <paramref name="headSize"/>.</param>
    /// <param name="headSize">Head size N (heads H = C / N); ignored for version 4.</param>
    /// <param name="vocab">Vocabulary size V.</param>
    /// <param name="ffn">Channel-mix hidden width F.</param>
    /// <param name="seed">Seed of the random weights.</param>
    /// <param name="dtype">
    /// Storage of the matrices: <see cref="TensorDType.Float32"/>, or <see cref="TensorDType.Float16"/> for versions 6
    /// and 7. RWKV-6 gets BlinkDL's LoRA ranks (token shift 32, decay 64); RWKV-7 the ranks of its width.
    /// </param>
    /// <exception cref="ArgumentOutOfRangeException">A size is not positive, or the width is not a multiple of the head size.</exception>
    /// <exception cref="ArgumentException">The version is not one of the above, or fp16 is asked for version 4 or 5.</exception>
    public static void Write(string path, string version, int layers, int embd, int headSize, int vocab, int ffn, int seed,
        TensorDType dtype = TensorDType.Float32)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(version);
        if (dtype != TensorDType.Float32 && version is not ("6" or "7"))
        {
            throw new ArgumentException($"Random RWKV-{version} checkpoints are written in fp32 only, not {dtype}.", nameof(dtype));
        }
        switch (version)
        {
            case "4":
                RandomCheckpoint.WriteRwkv4(path, layers, embd, vocab, ffn, seed);
                break;
            case "5.0" or "5.1" or "5.2":
                RandomCheckpoint.WriteRwkv5(path, version, layers, embd, headSize, vocab, ffn, seed);
                break;
            case "6":
                RandomCheckpoint.WriteRwkv6(path, layers, embd, headSize, vocab, ffn, loraMix: 32, loraDecay: 64, seed, dtype);
                break;
            case "7":
                (int w, int a, int v, int g) = RandomCheckpoint.Rwkv7LoraRanks(embd);
                RandomCheckpoint.WriteRwkv7(path, layers, embd, headSize, vocab, ffn, w, a, v, g, seed, dtype);
                break;
            default:
                throw new ArgumentException($"RWKV version '{version}' has no random checkpoint; expected 4, 5.0, 5.1, 5.2, 6 or 7.", nameof(version));
        }
    }
}
