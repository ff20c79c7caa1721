using Rwkv.Onnx.Export;
using Rwkv.Onnx.Export.Checkpoints;
using Rwkv.Onnx.Export.RandomCheckpoints;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Parity;

/// <summary>A model for <see cref="ChunkedRecurrenceTests"/>: how to make its checkpoint, and the measured bound.</summary>
/// <param name="Name">Case name.</param>
/// <param name="Create">Writes (or finds) the checkpoint given a scratch directory; returns its path.</param>
/// <param name="GroupNormEpsilon">The ln_x epsilon to export with, or null for the published default.</param>
/// <param name="Tolerance">Max |Δlogit| allowed between graphs at any position: measured, plus margin.</param>
/// <param name="StateTolerance">Max |Δ| allowed between the final states (RWKV-4's pp is a log of the key scale).</param>
/// <param name="ChunkLength">The export's <see cref="ExportOptions.WkvChunkLength"/>; null for the version's default.</param>
public sealed record ChunkedCase(string Name, Func<string, string> Create, float? GroupNormEpsilon, float Tolerance, float StateTolerance,
    int? ChunkLength = null)
{
    public override string ToString() => ChunkLength is { } l ? $"{Name}, L = {l}" : Name;
}

/// <summary>
/// The chunked-parallel prefill recurrence against the step graph and the token-by-token Scan prefill, at every
/// position, for sequence lengths around the chunk length, from a nonzero incoming state, and batched; for every
/// version on the rwkv.cpp fixtures and on generated multi-head models, including RWKV-6 decays near 1e-6 (their
/// cumulative products underflow float32 within a chunk) and RWKV-4 keys large enough to overflow exp in float32.
/// </summary>
[TestFixtureSource(nameof(Cases))]
public sealed class ChunkedRecurrenceTests(ChunkedCase model)
{
    // Bounds: the largest |Δ| measured over the lengths below (chunked vs step and vs Scan), times about 2.5.
    public static readonly ChunkedCase[] Cases =
    [
        Fixture("7v0-834K", null, 3e-6f, 3e-6f),     // L = 32: measured 1.2e-6, state 1.2e-6
        Fixture("6v0-1m", null, 1e-4f, 2.5e-4f),     // measured 3.9e-5, state 9.2e-5 (the Scan prefill itself is 5.0e-5 from the step graph)
        Fixture("5v1-730K", 1e-5f, 3e-5f, 3e-5f),    // measured 9.3e-6, state 9.5e-6
        Fixture("5v2-730K", 1e-5f, 5e-5f, 3e-5f),    // measured 1.8e-5, state 1.1e-5
        Fixture("4v0-660K", null, 1e-5f, 2e-6f),     // measured 3.8e-6, state 4.8e-7
        new("generated-7", GeneratedRwkv7, null, 1.25e-5f, 2e-5f), // L = 32: measured 5.0e-6, state 7.6e-6
        new("generated-6", dir => Write(dir, p => RandomCheckpoint.WriteRwkv6(p, layers: 2, embd: 128, headSize: 32, vocab: 200, ffn: 256,
            loraMix: 16, loraDecay: 24, seed: 6)), null, 1e-5f, 5e-5f),                  // measured 3.1e-6, state 1.8e-5
        new("generated-5.2", dir => Write(dir, p => RandomCheckpoint.WriteRwkv5(p, "5.2", layers: 2, embd: 128, headSize: 32, vocab: 200, ffn: 256, seed: 5)),
            null, 1e-5f, 3e-5f),                                                          // measured 2.5e-6, state 9.5e-6
        new("generated-4", dir => Write(dir, p => RandomCheckpoint.WriteRwkv4(p, layers: 2, embd: 96, vocab: 97, ffn: 384, seed: 4)),
            null, 1e-5f, 1.5e-5f),                                                        // measured 1.9e-6, state 4.8e-6
        new("generated-6-tiny-decay", TinyDecayRwkv6, null, 1e-4f, 3e-5f),              // measured 3.3e-5 (Scan vs step: 5.5e-5), state 1.2e-5
        new("generated-4-large-keys", dir => Write(dir, p => RandomCheckpoint.WriteRwkv4(p, layers: 2, embd: 64, vocab: 50, ffn: 256, seed: 5, keyScale: 40)),
            null, 6e-5f, 1e-3f),                                                          // measured 2.1e-5, state 3.8e-4 (pp ~ 1e3)
        // Other chunk lengths. RWKV-7's (I − A)⁻¹ by halves keeps L = 32 and 64 as close as 16 (by doubling alone, L = 32
        // was 38× further on 7v0); RWKV-4/5/6 default to 16 and are as close at 32.
        Fixture("7v0-834K", null, 3e-6f, 3e-6f) with { ChunkLength = 16 },           // measured 1.2e-6, state 1.0e-6
        Fixture("7v0-834K", null, 3e-6f, 6e-6f) with { ChunkLength = 64 },           // measured 1.2e-6, state 2.3e-6
        Fixture("6v0-1m", null, 1e-4f, 2.5e-4f) with { ChunkLength = 32 },           // measured 3.8e-5, state 7.6e-5
        Fixture("5v2-730K", 1e-5f, 5e-5f, 3.5e-5f) with { ChunkLength = 32 },        // measured 1.7e-5, state 1.4e-5
        Fixture("4v0-660K", null, 1e-5f, 2e-6f) with { ChunkLength = 32 },           // measured 2.9e-6, state 4.8e-7
        new("generated-7", GeneratedRwkv7, null, 1e-5f, 1.25e-5f, ChunkLength: 16), // measured 3.8e-6, state 5.0e-6
        new("generated-7", GeneratedRwkv7, null, 2e-5f, 4.5e-5f, ChunkLength: 64), // measured 7.9e-6, state 1.8e-5
    ];

    private string _work = "";
    private RwkvModel _scan = null!;
    private RwkvModel _chunked = null!;

    // The case's chunk length, else the documented default: 32 for RWKV-7, 16 for RWKV-4/5/6.
    private int ChunkLength => model.ChunkLength ?? (_chunked.Manifest.Architecture.Version == "7" ? 32 : 16);

    [OneTimeSetUp]
    public void Export()
    {
        _work = Path.Combine(Path.GetTempPath(), "rwkv-chunked-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_work);
        string checkpoint = model.Create(_work);
        string scan = Path.Combine(_work, "scan"), chunked = Path.Combine(_work, "chunked");
        RwkvExporter.Export(checkpoint, scan, new ExportOptions { GroupNormEpsilon = model.GroupNormEpsilon, PrefillRecurrence = PrefillRecurrence.Scan });
        RwkvExporter.Export(checkpoint, chunked, new ExportOptions
        {
            GroupNormEpsilon = model.GroupNormEpsilon,
            PrefillRecurrence = PrefillRecurrence.Chunked,
            WkvChunkLength = model.ChunkLength,
        });
        _scan = RwkvModel.Load(scan);
        _chunked = RwkvModel.Load(chunked);
    }

    [OneTimeTearDown]
    public void Cleanup()
    {
        _scan?.Dispose();
        _chunked?.Dispose();
        Directory.Delete(_work, recursive: true);
    }

    [Test]
    public void Manifest_RecordsPrefillRecurrence()
    {
        Assert.That(_chunked.Manifest.PrefillRecurrence, Is.EqualTo($"chunked-{ChunkLength}"));
        Assert.That(_scan.Manifest.PrefillRecurrence, Is.EqualTo("scan"));
    }

    // 1, L − 1, L, L + 1 for L = 16 and 32, 3·16 + 5, and a long odd length (two full chunks and a partial one at
    // L = 64), each in one prefill run.
    [TestCase(1)]
    [TestCase(15)]
    [TestCase(16)]
    [TestCase(17)]
    [TestCase(31)]
    [TestCase(32)]
    [TestCase(33)]
    [TestCase(53)]
    [TestCase(131)]
    public void EveryPosition_ChunkedPrefillMatchesStepAndScan(int length)
    {
        int vocab = _chunked.VocabSize;
        var random = new Random(length);
        int[] prefix = [.. Enumerable.Range(0, 5).Select(_ => random.Next(vocab))];
        int[] tokens = [.. Enumerable.Range(0, length).Select(_ => random.Next(vocab))];

        float[] stepLogits = Run(_chunked, prefix, tokens, RwkvForwardMode.Step, out float[][] stepState);
        float[] scanLogits = Run(_scan, prefix, tokens, RwkvForwardMode.Prefill, out float[][] scanState);
        float[] chunkedLogits = Run(_chunked, prefix, tokens, RwkvForwardMode.Prefill, out float[][] chunkedState);

        for (int t = 0; t < length; t++)
        {
            Assert.That(MaxAbsDiff(chunkedLogits.AsSpan(t * vocab, vocab), stepLogits.AsSpan(t * vocab, vocab)),
                Is.LessThanOrEqualTo(model.Tolerance), $"position {t}: chunked prefill vs step graph");
            Assert.That(MaxAbsDiff(chunkedLogits.AsSpan(t * vocab, vocab), scanLogits.AsSpan(t * vocab, vocab)),
                Is.LessThanOrEqualTo(model.Tolerance), $"position {t}: chunked prefill vs Scan prefill");
        }
        AssertStates(chunkedState, stepState, "step graph");
        AssertStates(chunkedState, scanState, "Scan prefill");
    }

    [Test]
    public void Batch_ChunkedPrefillMatchesStepGraph()
    {
        const int Batch = 3, Prefix = 4;
        int length = ChunkLength + 7;
        var random = new Random(3);
        int[] prefix = [.. Enumerable.Range(0, Batch * Prefix).Select(_ => random.Next(_chunked.VocabSize))];
        int[] tokens = [.. Enumerable.Range(0, Batch * length).Select(_ => random.Next(_chunked.VocabSize))];
        var expected = new float[Batch * _chunked.VocabSize];
        var actual = new float[Batch * _chunked.VocabSize];

        using RwkvRunner runner = _chunked.CreateRunner();
        runner.PrefillChunkSize = 512;
        using RwkvState stepped = _chunked.CreateState(Batch);
        for (int t = 0; t < Prefix; t++)
        {
            runner.ForwardBatch(Column(prefix, Prefix, t), 1, stepped, expected, RwkvForwardMode.Step);
        }
        using RwkvState prefilled = stepped.Clone();
        for (int t = 0; t < length; t++)
        {
            runner.ForwardBatch(Column(tokens, length, t), 1, stepped, expected, RwkvForwardMode.Step);
        }
        runner.ForwardBatch(tokens, length, prefilled, actual, RwkvForwardMode.Prefill);

        Assert.That(MaxAbsDiff(actual, expected), Is.LessThanOrEqualTo(model.Tolerance), "last logits of every sequence");
        AssertStates(prefilled.Current, stepped.Current, "step graph");
    }

    // Feeds prefix by steps (a nonzero incoming state), then tokens in one run of the given mode.
    private static float[] Run(RwkvModel m, int[] prefix, int[] tokens, RwkvForwardMode mode, out float[][] state)
    {
        using RwkvRunner runner = m.CreateRunner();
        runner.PrefillChunkSize = 512;
        using RwkvState s = m.CreateState();
        var logits = new float[tokens.Length * m.VocabSize];
        runner.ForwardAll(prefix, s, new float[prefix.Length * m.VocabSize], RwkvForwardMode.Step);
        runner.ForwardAll(tokens, s, logits, mode);
        state = [.. s.Current.Select(b => (float[])b.Clone())];
        return logits;
    }

    private void AssertStates(float[][] actual, float[][] expected, string what)
    {
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.That(MaxAbsDiff(actual[i], expected[i]), Is.LessThanOrEqualTo(model.StateTolerance), $"state tensor {i} vs {what}");
        }
    }

    private static int[] Column(int[] tokens, int length, int t) => [.. Enumerable.Range(0, tokens.Length / length).Select(b => tokens[(b * length) + t])];

    private static float MaxAbsDiff(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        float max = 0;
        for (int i = 0; i < a.Length; i++)
        {
            max = Math.Max(max, Math.Abs(a[i] - b[i]));
        }
        return max;
    }

    private static ChunkedCase Fixture(string name, float? epsilon, float tolerance, float stateTolerance) =>
        new(name, _ => SharedFixtures.RwkvCppModel(name, "FP32"), epsilon, tolerance, stateTolerance);

    private static string Write(string dir, Action<string> write)
    {
        string path = Path.Combine(dir, "model.bin");
        write(path);
        return path;
    }

    // A 3-layer, 2-head RWKV-7 with every LoRA rank different.
    private static string GeneratedRwkv7(string dir) => Write(dir, p => RandomCheckpoint.WriteRwkv7(p, layers: 3, embd: 128, headSize: 64,
        vocab: 300, ffn: 512, loraW: 32, loraA: 24, loraV: 16, loraG: 64, seed: 7));

    // RWKV-6 with w = exp(−exp(time_decay + lora)) ≈ 1e-6 in every channel: Γ over a chunk underflows float32, so
    // a form dividing by Γ would produce inf/NaN. time_decay = log(−log 1e-6) ≈ 2.626, the decay LoRA made small.
    private static string TinyDecayRwkv6(string dir)
    {
        var written = new List<CanonicalTensor>();
        RandomCheckpoint.WriteRwkv6(Path.Combine(dir, "base.bin"), layers: 2, embd: 128, headSize: 32, vocab: 200, ffn: 256,
            loraMix: 16, loraDecay: 24, seed: 61, written: written);
        float tiny = MathF.Log(-MathF.Log(1e-6f));
        string path = Path.Combine(dir, "tiny-decay.safetensors");
        SafetensorsWriter.Write(path, written.Select(t => new SafetensorsWriter.Tensor(t.Name, TensorDType.Float32, t.Shape,
            t.Name.EndsWith(".att.time_decay", StringComparison.Ordinal) ? Array.ConvertAll(t.Data, _ => tiny)
            : t.Name.EndsWith(".att.time_decay_w2", StringComparison.Ordinal) ? Array.ConvertAll(t.Data, x => x * 0.01f)
            : t.Data)));
        return path;
    }
}
