using Rwkv.Onnx.Export;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Parity;

/// <summary>
/// A tiny rwkv.cpp fixture and the measured behaviour of the named quantization layouts on it (ACCURACY.md,
/// "Quantization frontier"): max |Δlogit| against rwkv.cpp's expected logits, and between each export's step and prefill graphs.
/// </summary>
/// <param name="Model">The fixture name.</param>
/// <param name="GroupNormEpsilon">The ln_x epsilon the model was made with, or null for the published default.</param>
/// <param name="ExpectedBounds">Per preset: max |Δlogit| against the expected logits (measured, plus a quarter).</param>
/// <param name="StepPrefillBounds">Per preset: max |Δlogit| between step and prefill over 41 tokens (measured, plus a quarter).</param>
/// <param name="ReferenceRatios">
/// Per preset: the largest ratio of its mean |Δlogit| to its ggml format's (Q8_0, Q4_0, Q5_1 on the same weights, with
/// rwkv.cpp's arithmetic); 1 where ACCURACY.md claims the preset is at least as accurate.
/// </param>
/// <param name="EmulationStepPrefillBounds">Per ggml format: max |Δlogit| between its emulation's step and prefill graphs.</param>
public sealed record LayoutFixture(string Model, float? GroupNormEpsilon, IReadOnlyDictionary<string, float> ExpectedBounds,
    IReadOnlyDictionary<string, float> StepPrefillBounds, IReadOnlyDictionary<string, float> ReferenceRatios,
    IReadOnlyDictionary<string, float> EmulationStepPrefillBounds)
{
    public override string ToString() => Model;
}

/// <summary>
/// The int8, int4 and int4-accurate layouts of every tiny fixture: against rwkv.cpp's logits, step against prefill, and
/// against the ggml format each is meant to match (Q8_0, Q4_0, Q5_1 as rwkv.cpp computes them, emulated on the same
/// weights by <see cref="ExportOptions.EmulatedFormat"/>) on 300 bytes of text; and the emulations' step against prefill.
/// </summary>
[TestFixtureSource(nameof(Fixtures))]
public sealed class QuantLayoutParityTests(LayoutFixture fixture)
{
    private readonly ScratchRoot _root = new("rwkv-quant-layouts-");

    // Each preset and the ggml format it stands in for.
    private static readonly (string Preset, string Reference)[] s_claims = [("int8", "q8_0"), ("int4", "q4_0"), ("int4-accurate", "q5_1")];

    // Measured 2026-12-05 (ONNX Runtime 1.32.0) with the presets of that evening (int8 at blocks of 16, int4-accurate with
    // every time-mix projection at 8 bits), bounds about 1.25× that: max |Δlogit| against rwkv.cpp after the prompt
    // (step and prefill alike), max |Δlogit| step vs prefill over 41 random bytes (1e-4 where they agree to float
    // rounding), the ratio of each preset's mean |Δlogit| to its ggml format's over 300 bytes of text (rwkv.cpp's
    // arithmetic; a bound of 1 where the preset is at least as accurate), and the ggml emulations' step vs prefill (Q8_0,
    // Q4_0, Q5_1). int8's ratio on 7v0 and 4v0 is its int8 head's: with `head=fp32` 7v0's int8 is 0.78× Q8_0 (ACCURACY.md).
    public static readonly LayoutFixture[] Fixtures =
    [
        // Expected 0.00941, 0.0154, 0.0163; step/prefill 7e-7, 7e-7, 1.4e-6; ratios 10.1 (q8_0's error here is 2.5e-4), 1.46, 3.02;
        // emulations 0, 0, 1e-5.
        new("7v0-834K", null, Bounds(0.012f, 0.02f, 0.021f), Bounds(1e-4f, 1e-4f, 1e-4f), Bounds(12.6f, 1.8f, 3.8f), Emulations(1e-4f, 1e-4f, 1e-4f)),
        // 0.0409, 0.184, 0.0891; 0.417, 0.746, 0.23 (its ffn width 224 is not a multiple of 64, see QuantizedParityTests); 1.18, 0.76, 0.70;
        // 0, 0, 0.0791.
        new("6v0-1m", null, Bounds(0.052f, 0.23f, 0.112f), Bounds(0.52f, 0.94f, 0.29f), Bounds(1.47f, 1f, 1f), Emulations(1e-4f, 1e-4f, 0.099f)),
        // 0.12, 2.7, 0.663; 0.041, 0.0893, 0.0699; 0.86, 0.94, 0.86; 0, 0, 0.
        new("5v1-730K", 1e-5f, Bounds(0.15f, 3.4f, 0.83f), Bounds(0.052f, 0.112f, 0.088f), Bounds(1f, 1f, 1f), Emulations(1e-4f, 1e-4f, 1e-4f)),
        // 0.109, 1.25, 0.54; 0.149, 0.0842, 0.183; 0.83, 0.96, 0.91; 0, 0.0646 (an activation code one step apart), 0.
        new("5v2-730K", 1e-5f, Bounds(0.137f, 1.57f, 0.68f), Bounds(0.187f, 0.106f, 0.23f), Bounds(1f, 1f, 1f), Emulations(1e-4f, 0.081f, 1e-4f)),
        // 0.0254, 0.404, 0.0391; 2e-6 for all three; 1.72, 0.97, 0.58; 0, 0, 0.
        new("4v0-660K", null, Bounds(0.032f, 0.505f, 0.049f), Bounds(1e-4f, 1e-4f, 1e-4f), Bounds(2.15f, 1f, 1f), Emulations(1e-4f, 1e-4f, 1e-4f)),
    ];

    private readonly Dictionary<string, RwkvModel> _models = [];

    [OneTimeSetUp]
    public void ExportLayouts()
    {
        _root.Create();
        string checkpoint = SharedFixtures.RwkvCppModel(fixture.Model, "FP32");
        var options = new Dictionary<string, ExportOptions>
        {
            ["fp32"] = new() { GroupNormEpsilon = fixture.GroupNormEpsilon },
            ["q8_0"] = new() { GroupNormEpsilon = fixture.GroupNormEpsilon, EmulatedFormat = EmulatedBlockFormat.Q8_0 },
            ["q4_0"] = new() { GroupNormEpsilon = fixture.GroupNormEpsilon, EmulatedFormat = EmulatedBlockFormat.Q4_0 },
            ["q5_1"] = new() { GroupNormEpsilon = fixture.GroupNormEpsilon, EmulatedFormat = EmulatedBlockFormat.Q5_1 },
        };
        // The presets, and the int8 preset with a float32 head (rwkv.cpp keeps its head float32).
        foreach ((string name, QuantLayout layout) in QuantLayout.Presets.Append(new(Int8FloatHead, QuantLayout.Int8 with { Head = WeightDType.Float32 })))
        {
            options[name] = LayoutExportOptions.For(layout, fixture.GroupNormEpsilon);
        }
        foreach ((string name, ExportOptions o) in options)
        {
            string dir = Path.Combine(_root.Path, name);
            RwkvExporter.Export(checkpoint, dir, o);
            _models[name] = RwkvModel.Load(dir);
        }
    }

    [OneTimeTearDown]
    public void Cleanup()
    {
        foreach (RwkvModel model in _models.Values)
        {
            model.Dispose();
        }
        _root.Delete();
    }

    [Test]
    public void Presets_ReproduceReferenceLogitsWithinMeasuredBound([Values("int8", "int4", "int4-accurate")] string preset,
        [Values(RwkvForwardMode.Step, RwkvForwardMode.Prefill)] RwkvForwardMode mode)
    {
        float[] logits = AllLogits(_models[preset], SharedFixtures.PromptTokens.ToArray(), mode)[^256..];
        float[] expected = SharedFixtures.ExpectedLogits(fixture.Model);
        float maxError = logits.Zip(expected, (a, b) => MathF.Abs(a - b)).Max();
        TestContext.Out.WriteLine($"{fixture} {preset} {mode}: max |Δlogit| {maxError:G3}");
        Assert.That(maxError, Is.LessThanOrEqualTo(fixture.ExpectedBounds[preset]));
    }

    // The ggml emulations round each activation block to 8 bits, so a last-bit difference between the step and prefill
    // graphs' float sums can move one code by one step; the bound is measured.
    [Test]
    public void GgmlEmulations_StepAndPrefillAgreeWithinMeasuredBound([Values("q8_0", "q4_0", "q5_1")] string format)
    {
        var random = new Random(11);
        int[] tokens = [.. Enumerable.Range(0, 41).Select(_ => random.Next(256))];
        float[] step = AllLogits(_models[format], tokens, RwkvForwardMode.Step);
        float[] prefill = AllLogits(_models[format], tokens, RwkvForwardMode.Prefill);
        float maxError = step.Zip(prefill, (a, b) => MathF.Abs(a - b)).Max();
        TestContext.Out.WriteLine($"{fixture} {format}: step/prefill max |Δlogit| {maxError:G3}");
        Assert.That(maxError, Is.LessThanOrEqualTo(fixture.EmulationStepPrefillBounds[format]));
    }

    [Test]
    public void Presets_StepAndPrefillAgreeWithinMeasuredBound([Values("int8", "int4", "int4-accurate")] string preset)
    {
        var random = new Random(11);
        int[] tokens = [.. Enumerable.Range(0, 41).Select(_ => random.Next(256))];
        float[] step = AllLogits(_models[preset], tokens, RwkvForwardMode.Step);
        float[] prefill = AllLogits(_models[preset], tokens, RwkvForwardMode.Prefill);
        float maxError = step.Zip(prefill, (a, b) => MathF.Abs(a - b)).Max();
        TestContext.Out.WriteLine($"{fixture} {preset}: step/prefill max |Δlogit| {maxError:G3}");
        Assert.That(maxError, Is.LessThanOrEqualTo(fixture.StepPrefillBounds[preset]));
    }

    // ACCURACY.md's claims against the ggml format each preset stands in for, with rwkv.cpp's arithmetic (8-bit
    // activation blocks, as our int8 arithmetic): int4 at least as accurate as Q4_0 on four of the five fixtures; int8 and
    // int4-accurate within their measured ratios.
    [TestCaseSource(nameof(s_claims))]
    public void Preset_MeanErrorAgainstItsGgmlFormat_IsAsClaimed((string Preset, string Reference) claim)
    {
        int[] text = [.. File.ReadAllBytes(Path.Combine(SharedFixtures.FixturesDirectory, "README.md")).Take(300).Select(b => (int)b)];
        float[] fp32 = AllLogits(_models["fp32"], text, RwkvForwardMode.Prefill);
        double ours = MeanAbs(AllLogits(_models[claim.Preset], text, RwkvForwardMode.Prefill), fp32);
        double reference = MeanAbs(AllLogits(_models[claim.Reference], text, RwkvForwardMode.Prefill), fp32);
        TestContext.Out.WriteLine($"{fixture} {claim.Preset} {ours:G3} vs {claim.Reference} {reference:G3}");
        Assert.That(ours, Is.LessThanOrEqualTo(reference * fixture.ReferenceRatios[claim.Preset]));
    }

    // On these trained models the head's input has outlier channels, so the int8 head's activation rounding is most of
    // int8's error (7v0: 10× Q8_0's); with the head in float32, int8 is more accurate than Q8_0 on every fixture
    // (measured 0.77–0.84× its mean error), which is what ACCURACY.md recommends when accuracy matters more than speed.
    [Test]
    public void Int8WithFloatHead_IsAtLeastAsAccurateAsQ8_0()
    {
        int[] text = [.. File.ReadAllBytes(Path.Combine(SharedFixtures.FixturesDirectory, "README.md")).Take(300).Select(b => (int)b)];
        float[] fp32 = AllLogits(_models["fp32"], text, RwkvForwardMode.Prefill);
        double ours = MeanAbs(AllLogits(_models[Int8FloatHead], text, RwkvForwardMode.Prefill), fp32);
        double reference = MeanAbs(AllLogits(_models["q8_0"], text, RwkvForwardMode.Prefill), fp32);
        TestContext.Out.WriteLine($"{fixture} {Int8FloatHead} {ours:G3} vs q8_0 {reference:G3}");
        Assert.That(ours, Is.LessThanOrEqualTo(reference));
    }

    private const string Int8FloatHead = "int8 head=fp32";

    private static Dictionary<string, float> Bounds(float int8, float int4, float int4Accurate) =>
        new() { ["int8"] = int8, ["int4"] = int4, ["int4-accurate"] = int4Accurate };

    private static Dictionary<string, float> Emulations(float q8_0, float q4_0, float q5_1) =>
        new() { ["q8_0"] = q8_0, ["q4_0"] = q4_0, ["q5_1"] = q5_1 };

    private static double MeanAbs(float[] a, float[] b) => a.Zip(b, (x, y) => Math.Abs((double)x - y)).Average();

    private static float[] AllLogits(RwkvModel model, int[] tokens, RwkvForwardMode mode)
    {
        using RwkvRunner runner = model.CreateRunner();
        runner.PrefillChunkSize = 16;
        using RwkvState state = model.CreateState();
        var logits = new float[tokens.Length * model.VocabSize];
        runner.ForwardAll(tokens, state, logits, mode);
        return logits;
    }
}
