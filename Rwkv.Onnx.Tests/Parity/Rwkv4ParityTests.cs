using Rwkv.Onnx.Export;
using Rwkv.Onnx.Export.Checkpoints;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Parity;

/// <summary>
/// RWKV-4: the plain C# reference against rwkv.cpp's logits, then exports against the reference on
/// generated models, because the <c>4v0-660K</c> fixture cannot catch two kinds of mistake: its
/// channel-mix weights are ~1e-7 (a wrong channel mix would pass), and its keys are small (a WKV that
/// overflows float32 on large keys would pass).
/// </summary>
[TestFixture]
public sealed class Rwkv4ParityTests
{
    private const string Fixture = "4v0-660K";
    private const int Layers = 3, Width = 96, Vocab = 97, Ffn = 384;
    private const int LargeKeyVocab = 50;
    private static readonly string[] s_slots = ["att_shift", "aa", "bb", "pp", "ffn_shift"];

    private string _work = "";
    private string _checkpoint = "";
    private string _largeKeyCheckpoint = "";
    private IReadOnlyList<TinyCheckpoints.CanonicalTensor> _written = [];
    private RwkvModel _model = null!;
    private RwkvModel _largeKeyModel = null!;

    [OneTimeSetUp]
    public void ExportGeneratedModels()
    {
        _work = Path.Combine(Path.GetTempPath(), "rwkv4-parity-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_work);
        _checkpoint = Path.Combine(_work, "rwkv4.bin");
        _written = TinyCheckpoints.WriteRwkv4(_checkpoint, Layers, Width, Vocab, Ffn, seed: 4);
        RwkvExporter.Export(_checkpoint, Path.Combine(_work, "model"), new ExportOptions());
        _model = RwkvModel.Load(Path.Combine(_work, "model"));

        _largeKeyCheckpoint = Path.Combine(_work, "rwkv4-large-keys.bin");
        TinyCheckpoints.WriteRwkv4(_largeKeyCheckpoint, layers: 2, embd: 64, vocab: LargeKeyVocab, ffn: 256, seed: 5, keyScale: 40);
        RwkvExporter.Export(_largeKeyCheckpoint, Path.Combine(_work, "large-keys"), new ExportOptions());
        _largeKeyModel = RwkvModel.Load(Path.Combine(_work, "large-keys"));
    }

    [OneTimeTearDown]
    public void Cleanup()
    {
        _model?.Dispose();
        _largeKeyModel?.Dispose();
        Directory.Delete(_work, recursive: true);
    }

    // rwkv.cpp's FP32 logits for the prompt; the fixtures README reports < 3.1e-6 for a float64 implementation.
    [Test]
    public void Reference_Prompt_ReproducesRwkvCppExpectedLogits()
    {
        float[] expected = SharedFixtures.ExpectedLogits(Fixture);
        using RwkvCheckpoint checkpoint = RwkvCheckpoint.Open(SharedFixtures.RwkvCppModel(Fixture, "FP32"));
        float[] single = Prompt(ReferenceRwkv4<float>.Load(checkpoint));
        float[] precise = Prompt(ReferenceRwkv4<double>.Load(checkpoint));

        TestContext.Out.WriteLine($"{Fixture}: max |logit - expected| float {MaxAbsDifference(single, expected):E3}, double {MaxAbsDifference(precise, expected):E3}");
        Assert.That(single, Is.EqualTo(expected).Within(1e-5f));
        Assert.That(precise, Is.EqualTo(expected).Within(1e-5f));
    }

    [Test]
    public void Open_GeneratedModel_ReadsBackCanonicalLayout()
    {
        using RwkvCheckpoint checkpoint = RwkvCheckpoint.Open(_checkpoint);

        Assert.That(checkpoint.Tensors.Keys, Is.EquivalentTo(_written.Select(t => t.Name)));
        using (Assert.EnterMultipleScope())
        {
            foreach (TinyCheckpoints.CanonicalTensor tensor in _written)
            {
                CheckpointTensor read = checkpoint.Get(tensor.Name);
                Assert.That(read.Shape, Is.EqualTo(tensor.Shape), tensor.Name);
                // time_decay is stored as −exp(x) in float32 and read back as log(−y): within float rounding.
                float tolerance = tensor.Name.EndsWith(".time_decay", StringComparison.Ordinal) ? 1e-6f : 0f;
                Assert.That(read.ReadFloat32(), Is.EqualTo(tensor.Data).Within(tolerance), tensor.Name);
            }
            Assert.That(checkpoint.Get("blocks.1.att.time_mix_v").Shape, Is.EqualTo(new long[] { 1, 1, Width }));
            Assert.That(checkpoint.Get("blocks.1.att.time_decay").Shape, Is.EqualTo(new long[] { Width }));
        }
    }

    [Test]
    public void Manifest_RecordsVersionShapeAndStateSlots()
    {
        RwkvManifest manifest = _model.Manifest;
        RwkvArchitectureInfo a = manifest.Architecture;
        Assert.That((a.Version, a.Layers, a.Embedding, a.Heads, a.HeadSize, a.Vocab, a.FfnSize), Is.EqualTo(("4", Layers, Width, 1, Width, Vocab, Ffn)));
        Assert.That(manifest.State.Select(s => (s.Slot, s.Layer)),
            Is.EqualTo(Enumerable.Range(0, Layers).SelectMany(l => s_slots.Select(s => (s, l)))));
        using (Assert.EnterMultipleScope())
        {
            foreach (RwkvStateTensorInfo slot in manifest.State)
            {
                Assert.That(slot.Shape, Is.EqualTo(new[] { Width }), slot.Input);
                Assert.That(slot.Initial, Is.EqualTo(slot.Slot == "pp" ? -1e30f : 0f), slot.Input);
            }
        }
    }

    [TestCase(RwkvForwardMode.Step, 1)]
    [TestCase(RwkvForwardMode.Prefill, 7)] // 40 tokens: five chunks of 7, then 5
    public void EveryPosition_MatchesReference(RwkvForwardMode mode, int chunk)
    {
        int[] tokens = Sequence(40, Vocab, seed: 11);
        using RwkvCheckpoint checkpoint = RwkvCheckpoint.Open(_checkpoint);
        ReferenceRwkv4<float> reference = ReferenceRwkv4<float>.Load(checkpoint);

        using RwkvRunner runner = _model.CreateRunner();
        runner.PrefillChunkSize = chunk;
        using RwkvState state = _model.CreateState();
        var logits = new float[tokens.Length * Vocab];
        runner.ForwardAll(tokens, state, logits, mode);

        float maxDiff = 0;
        for (int t = 0; t < tokens.Length; t++)
        {
            float[] expected = reference.Forward(tokens[t]);
            float[] actual = logits.AsSpan(t * Vocab, Vocab).ToArray();
            maxDiff = Math.Max(maxDiff, MaxAbsDifference(actual, expected));
            Assert.That(actual, Is.EqualTo(expected).Within(1e-4f), $"position {t}");
        }
        TestContext.Out.WriteLine($"{mode}: max |logit - reference| {maxDiff:E3}"); // measured 1.7e-6
        AssertStateMatches(state, reference, 1e-4f); // measured 5.7e-6 (bb up to 16)
    }

    // Keys reach ±100 (keyScale 40): exp(k) overflows float32 beyond 88.7, so only the running-max form works.
    [TestCase(RwkvForwardMode.Step)]
    [TestCase(RwkvForwardMode.Prefill)]
    public void LargeKeys_LongSequence_StayFiniteAndMatchDoubleReference(RwkvForwardMode mode)
    {
        int[] tokens = Sequence(320, LargeKeyVocab, seed: 12);
        using RwkvCheckpoint checkpoint = RwkvCheckpoint.Open(_largeKeyCheckpoint);
        ReferenceRwkv4<double> reference = ReferenceRwkv4<double>.Load(checkpoint);

        using RwkvRunner runner = _largeKeyModel.CreateRunner();
        using RwkvState state = _largeKeyModel.CreateState();
        var logits = new float[tokens.Length * LargeKeyVocab];
        runner.ForwardAll(tokens, state, logits, mode);

        Assert.That(logits.All(float.IsFinite), "every logit is finite");
        float maxDiff = 0;
        for (int t = 0; t < tokens.Length; t++)
        {
            float[] expected = reference.Forward(tokens[t]);
            float[] actual = logits.AsSpan(t * LargeKeyVocab, LargeKeyVocab).ToArray();
            maxDiff = Math.Max(maxDiff, MaxAbsDifference(actual, expected));
            Assert.That(actual, Is.EqualTo(expected).Within(2e-4f), $"position {t}"); // measured 4.5e-5, logits within ±3.7
        }
        // pp is the largest exponent seen: above ln(float.MaxValue) ≈ 88.7, e^pp (a naive numerator's scale) is infinite.
        float largestExponent = Enumerable.Range(0, 2).Max(layer => state.Current[(5 * layer) + 3].Max());
        TestContext.Out.WriteLine($"{mode}: max |logit - double reference| {maxDiff:E3}, largest pp {largestExponent}");
        Assert.That(MathF.Exp(largestExponent), Is.EqualTo(float.PositiveInfinity), "the keys are large enough to overflow a naive exp(k)");
        // Measured 7e-4 on pp ≈ 133 (a few float32 ulps of keys summed from weights ~5), 3e-4 on bb.
        AssertStateMatches(state, reference, 2e-3f);
    }

    private static void AssertStateMatches<T>(RwkvState state, ReferenceRwkv4<T> reference, float tolerance)
        where T : struct, System.Numerics.IBinaryFloatingPointIeee754<T>
    {
        float[][] graphState = state.Current;
        using (Assert.EnterMultipleScope())
        {
            for (int layer = 0; layer < reference.LayerCount; layer++)
            {
                T[][] slots = reference.State[layer].Slots;
                for (int s = 0; s < s_slots.Length; s++)
                {
                    float[] expected = Array.ConvertAll(slots[s], float.CreateTruncating);
                    Assert.That(graphState[(s_slots.Length * layer) + s], Is.EqualTo(expected).Within(tolerance), $"{s_slots[s]}.{layer}");
                }
            }
        }
    }

    private static float[] Prompt<T>(ReferenceRwkv4<T> reference)
        where T : struct, System.Numerics.IBinaryFloatingPointIeee754<T>
    {
        float[] logits = [];
        foreach (int token in SharedFixtures.PromptTokens)
        {
            logits = reference.Forward(token);
        }
        return logits;
    }

    private static int[] Sequence(int length, int vocab, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, length).Select(_ => random.Next(vocab)).ToArray();
    }

    private static float MaxAbsDifference(float[] a, float[] b) => a.Zip(b, (x, y) => Math.Abs(x - y)).Max();
}
