using Rwkv.Onnx.Export;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Parity;

/// <summary>A tiny rwkv.cpp fixture model and what its export must reproduce.</summary>
/// <param name="Model">The fixture name, e.g. <c>7v0-834K</c>.</param>
/// <param name="GroupNormEpsilon">The ln_x epsilon the model was made with, or null for the published default.</param>
/// <param name="Fp16Tolerance">Max |Δlogit| allowed for the FP16 file exported with fp16 weights: measured, plus margin.</param>
public sealed record ParityFixture(string Model, float? GroupNormEpsilon, float Fp16Tolerance)
{
    public override string ToString() => Model;
}

/// <summary>
/// Exported graphs against the logits rwkv.cpp's original implementation produced, and the step graph
/// against the prefill graph token by token, batching and state continuation, for every tiny fixture.
/// </summary>
[TestFixtureSource(nameof(Fixtures))]
public sealed class FixtureParityTests(ParityFixture fixture)
{
    public static readonly ParityFixture[] Fixtures =
    [
        // fp16: measured 1.94e-4 (ln0 folded into the fp16 embedding rounds it).
        new("7v0-834K", null, 3e-4f),
        // fp32: measured 3.8e-6 with the published 64e-5 (1e-5 misses by 1.3e-2); fp16: measured 4.13e-4.
        new("6v0-1m", null, 6e-4f),
        // RWKV-5 fixtures were made with rwkv.cpp's group-norm epsilon 1e-5 (fixtures README). fp32 measured
        // 3.6e-6 and 2.5e-6; fp16 5.84e-3 and 2.25e-3 (their originals were float32: fp16 rounds every matrix).
        new("5v1-730K", 1e-5f, 8e-3f),
        new("5v2-730K", 1e-5f, 3e-3f),
        // fp16: measured 2.33e-3, of which the FP16 file's own rounding is 1.63e-3 (through ReferenceRwkv4) and
        // the rest the ln0-folded fp16 embedding; fp32: measured 3.8e-6, within the list's 1e-5.
        new("4v0-660K", null, 3e-3f),
    ];

    private string _work = "";
    private RwkvModel _fp32 = null!;
    private RwkvModel _fp16 = null!;

    [OneTimeSetUp]
    public void ExportFixtures()
    {
        _work = Path.Combine(Path.GetTempPath(), "rwkv-parity-tests", Guid.NewGuid().ToString("N"));
        _fp32 = Export("FP32", WeightDType.Float32);
        _fp16 = Export("FP16", WeightDType.Float16);
    }

    [OneTimeTearDown]
    public void Cleanup()
    {
        _fp32?.Dispose();
        _fp16?.Dispose();
        Directory.Delete(_work, recursive: true);
    }

    [TestCase(RwkvForwardMode.Step)]
    [TestCase(RwkvForwardMode.Prefill)]
    public void Fp32_ReproducesReferenceLogits(RwkvForwardMode mode)
    {
        float[] logits = Logits(_fp32, SharedFixtures.PromptTokens.ToArray(), mode);
        // The issue asks for 1e-4; 7v0 measured 4.8e-7, and a wrong group-norm epsilon moves its logits by only 1.06e-4.
        Assert.That(logits, Is.EqualTo(SharedFixtures.ExpectedLogits(fixture.Model)).Within(1e-5f));
    }

    [TestCase(RwkvForwardMode.Step)]
    [TestCase(RwkvForwardMode.Prefill)]
    public void Fp16_ReproducesReferenceLogitsWithinHalfPrecision(RwkvForwardMode mode)
    {
        float[] logits = Logits(_fp16, SharedFixtures.PromptTokens.ToArray(), mode);
        float[] expected = SharedFixtures.ExpectedLogits(fixture.Model);
        Assert.That(logits, Is.EqualTo(expected).Within(fixture.Fp16Tolerance));
        Assert.That(logits, Is.Not.EqualTo(expected).Within(1e-6f), "fp16 storage must actually round something");
    }

    [TestCase(1)]
    [TestCase(7)]
    [TestCase(32)]
    [TestCase(200)]
    public void StepAndPrefill_AgreeAtEveryPosition(int chunk)
    {
        int[] tokens = Sequence(131, seed: 1);
        float[] step = AllLogits(_fp32, tokens, RwkvForwardMode.Step, chunk);
        float[] prefill = AllLogits(_fp32, tokens, RwkvForwardMode.Prefill, chunk);
        for (int t = 0; t < tokens.Length; t++)
        {
            Assert.That(prefill.AsSpan(t * 256, 256).ToArray(), Is.EqualTo(step.AsSpan(t * 256, 256).ToArray()).Within(1e-4f), $"position {t}");
        }
    }

    [TestCase(RwkvForwardMode.Step)]
    [TestCase(RwkvForwardMode.Prefill)]
    public void BatchOfThree_EqualsEachSequenceAlone(RwkvForwardMode mode)
    {
        int[][] sequences = [Sequence(23, 2), Sequence(23, 3), Sequence(23, 4)];
        using RwkvRunner runner = _fp32.CreateRunner();
        runner.PrefillChunkSize = 10;
        using RwkvState batch = _fp32.CreateState(3);
        float[] batched = new float[3 * 256];
        runner.ForwardBatch(sequences.SelectMany(s => s).ToArray(), 23, batch, batched, mode);
        // A second call continues every sequence from its own state.
        runner.ForwardBatch([5, 6, 7], 1, batch, batched, mode);

        for (int b = 0; b < 3; b++)
        {
            float[] alone = Logits(_fp32, [.. sequences[b], 5 + b], mode);
            Assert.That(batched.AsSpan(b * 256, 256).ToArray(), Is.EqualTo(alone).Within(1e-5f), $"sequence {b}");
        }
    }

    [Test]
    public void PrefillInTwoParts_FromSavedState_EqualsOnePrefill()
    {
        int[] tokens = Sequence(90, seed: 5);
        float[] whole = Logits(_fp32, tokens, RwkvForwardMode.Prefill);

        using RwkvRunner runner = _fp32.CreateRunner();
        using RwkvState first = _fp32.CreateState();
        var logits = new float[256];
        runner.Forward(tokens.AsSpan(0, 37), first, logits, RwkvForwardMode.Prefill);
        using var saved = new MemoryStream();
        first.Save(saved);
        saved.Position = 0;
        using RwkvState second = RwkvState.Load(_fp32, saved);
        runner.Forward(tokens.AsSpan(37), second, logits, RwkvForwardMode.Prefill);

        Assert.That(logits, Is.EqualTo(whole).Within(1e-5f));
    }

    [Test]
    public void StateAfterPrompt_ContinuesLikeTheFullSequence()
    {
        // Cloning mid-way and stepping the clone gives what stepping the original gives.
        using RwkvRunner runner = _fp32.CreateRunner();
        using RwkvState state = _fp32.CreateState();
        var logits = new float[256];
        runner.Forward(Sequence(20, 6), state, logits, RwkvForwardMode.Prefill);
        using RwkvState clone = state.Clone();
        var fromClone = new float[256];
        runner.Forward([65], clone, fromClone);
        runner.Forward([65], state, logits);
        Assert.That(fromClone, Is.EqualTo(logits));
    }

    private RwkvModel Export(string format, WeightDType dtype)
    {
        string dir = Path.Combine(_work, format);
        RwkvExporter.Export(SharedFixtures.RwkvCppModel(fixture.Model, format), dir,
            new ExportOptions { WeightDType = dtype, GroupNormEpsilon = fixture.GroupNormEpsilon });
        return RwkvModel.Load(dir);
    }

    private static float[] Logits(RwkvModel model, int[] tokens, RwkvForwardMode mode)
    {
        using RwkvRunner runner = model.CreateRunner();
        using RwkvState state = model.CreateState();
        var logits = new float[model.VocabSize];
        runner.Forward(tokens, state, logits, mode);
        return logits;
    }

    private static float[] AllLogits(RwkvModel model, int[] tokens, RwkvForwardMode mode, int chunk)
    {
        using RwkvRunner runner = model.CreateRunner();
        runner.PrefillChunkSize = chunk;
        using RwkvState state = model.CreateState();
        var logits = new float[tokens.Length * model.VocabSize];
        runner.ForwardAll(tokens, state, logits, mode);
        return logits;
    }

    private static int[] Sequence(int length, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, length).Select(_ => random.Next(256)).ToArray();
    }
}
