using Rwkv.Onnx.Export;
using Rwkv.Onnx.Export.Checkpoints;
using Rwkv.Onnx.Export.RandomCheckpoints;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Parity;

/// <summary>
/// RWKV-5 in its three published variants. The plain C# reference is checked against rwkv.cpp's logits for
/// the two tiny fixtures (5v1-730K is ChatRWKV's 5.0, 5v2-730K is 5.2); the fixtures have 8 heads of 8 and
/// no 5.1 exists among them, so a generated multi-head model of each variant (5.0, 5.1, 5.2) is exported with
/// the default options and compared with the reference at every position, in both graph modes, logits and state.
/// </summary>
[TestFixture]
public sealed class Rwkv5ParityTests
{
    private const int Vocab = 300;
    private const int Layers = 3;
    private const float PublishedEpsilon = 64e-5f;

    // Width 128 in every variant; head sizes differ so that a per-head mistake cannot hide behind a square layout.
    private static readonly Dictionary<string, (int HeadSize, int Seed)> s_generated = new()
    {
        ["5.0"] = (32, 50),
        ["5.1"] = (64, 51),
        ["5.2"] = (32, 52),
    };

    private string _work = "";
    private readonly Dictionary<string, string> _checkpoints = [];
    private readonly Dictionary<string, IReadOnlyList<CanonicalTensor>> _tensors = [];
    private readonly Dictionary<string, RwkvModel> _models = [];

    [OneTimeSetUp]
    public void ExportGeneratedModels()
    {
        _work = Path.Combine(Path.GetTempPath(), "rwkv5-parity-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_work);
        foreach ((string version, (int headSize, int seed)) in s_generated)
        {
            string checkpoint = Path.Combine(_work, $"rwkv{version}.bin");
            var written = new List<CanonicalTensor>();
            RandomCheckpoint.WriteRwkv5(checkpoint, version, Layers, embd: 128, headSize, Vocab, ffn: 448, seed, written: written);
            _tensors[version] = written;
            _checkpoints[version] = checkpoint;
            string model = Path.Combine(_work, $"model-{version}");
            RwkvExporter.Export(checkpoint, model, new ExportOptions());
            _models[version] = RwkvModel.Load(model);
        }
    }

    [OneTimeTearDown]
    public void Cleanup()
    {
        foreach (RwkvModel model in _models.Values)
        {
            model.Dispose();
        }
        Directory.Delete(_work, recursive: true);
    }

    // ---- the reference against rwkv.cpp ----

    // The fixtures README reports < 3.1e-6 for a float64 implementation of the published equations.
    [TestCase("5v1-730K", "5.0")]
    [TestCase("5v2-730K", "5.2")]
    public void Reference_FixturePrompt_ReproducesRwkvCppExpectedLogits(string model, string version)
    {
        using RwkvCheckpoint checkpoint = RwkvCheckpoint.Open(SharedFixtures.RwkvCppModel(model, "FP32"));
        ReferenceRwkv5 reference = ReferenceRwkv5.Load(checkpoint, groupNormEpsilon: 1e-5f);
        float[] logits = [];
        foreach (int token in SharedFixtures.PromptTokens)
        {
            logits = reference.Forward(token);
        }

        float[] expected = SharedFixtures.ExpectedLogits(model);
        TestContext.Out.WriteLine($"{model}: max |logit - expected| = {MaxAbsDifference(logits, expected):E3}");
        Assert.That((reference.Version, reference.HeadCount, reference.HeadSize), Is.EqualTo((version, 8, 8)));
        Assert.That(logits, Is.EqualTo(expected).Within(1e-5f));
    }

    // Values read off pth/tiny-rwkv-5v*-730K-fp32.pth (BlinkDL's layout, made by inverting rwkv.cpp's converter):
    // rwkv.cpp stores 5.0's time_decay/time_first as exp(-exp(x)) / exp(x) in [H,1,1] and 5.2's as [H,N,1].
    [TestCase("5v1-730K", "blocks.0.att.time_decay", new long[] { 8 }, 0.11231178790330887f, 0.15669192373752594f)]
    [TestCase("5v1-730K", "blocks.11.att.time_decay", new long[] { 8 }, -0.13327620923519135f, -0.20696689188480377f)]
    [TestCase("5v1-730K", "blocks.0.att.time_first", new long[] { 8 }, 0.06288183480501175f, 0.034153614193201065f)]
    [TestCase("5v1-730K", "blocks.0.att.time_mix_k", new long[] { 1, 1, 64 }, -0.029910562559962273f, 0.02168968692421913f)]
    [TestCase("5v2-730K", "blocks.0.att.time_decay", new long[] { 8, 8 }, 0.08795540034770966f, -0.007713088300079107f)]
    [TestCase("5v2-730K", "blocks.0.att.time_faaaa", new long[] { 8, 8 }, 0.026182716712355614f, -0.007586285006254911f)]
    public void Fixture_CanonicalTensor_MatchesOriginalCheckpoint(string model, string name, long[] shape, float first, float second)
    {
        using RwkvCheckpoint checkpoint = RwkvCheckpoint.Open(SharedFixtures.RwkvCppModel(model, "FP32"));
        CheckpointTensor tensor = checkpoint.Get(name);
        Assert.That(tensor.Shape, Is.EqualTo(shape));
        Assert.That(tensor.ReadFloat32()[..2], Is.EqualTo(new[] { first, second }).Within(1e-6f));
    }

    // ---- the group-norm epsilon ----

    [Test]
    public void Fixture_DefaultEpsilonMissesRwkvCppLogits_OptionReproducesThem()
    {
        string checkpoint = SharedFixtures.RwkvCppModel("5v2-730K", "FP32");
        float[] expected = SharedFixtures.ExpectedLogits("5v2-730K");
        (RwkvManifest published, float[] withDefault) = ExportAndRunPrompt(checkpoint, "default", new ExportOptions());
        (RwkvManifest rwkvCpp, float[] withOption) = ExportAndRunPrompt(checkpoint, "1e-5", new ExportOptions { GroupNormEpsilon = 1e-5f });

        Assert.That(published.Architecture.GroupNormEpsilon, Is.EqualTo(PublishedEpsilon));
        Assert.That(rwkvCpp.Architecture.GroupNormEpsilon, Is.EqualTo(1e-5f));
        // The fixtures README: 64e-5 moves these logits by up to 1.3; measured 1.095 here.
        Assert.That(MaxAbsDifference(withDefault, expected), Is.GreaterThan(0.5f));
        Assert.That(withOption, Is.EqualTo(expected).Within(1e-5f));
    }

    // ---- generated multi-head models, one per variant ----

    [TestCase("5.0")]
    [TestCase("5.1")]
    [TestCase("5.2")]
    public void Export_DetectsVariantShapeAndDefaultEpsilon(string version)
    {
        RwkvManifest manifest = _models[version].Manifest;
        RwkvArchitectureInfo a = manifest.Architecture;
        int headSize = s_generated[version].HeadSize;
        Assert.That((a.Version, a.Layers, a.Embedding, a.Heads, a.HeadSize, a.Vocab, a.FfnSize), Is.EqualTo((version, Layers, 128, 128 / headSize, headSize, Vocab, 448)));
        Assert.That(a.GroupNormEpsilon, Is.EqualTo(PublishedEpsilon));
        Assert.That(manifest.State.Take(3).Select(s => (s.Slot, string.Join("x", s.Shape))),
            Is.EqualTo(new[] { ("att_shift", "128"), ("wkv", $"{128 / headSize}x{headSize}x{headSize}"), ("ffn_shift", "128") }));
        Assert.That(manifest.State[1].Layout, Is.EqualTo(new[] { "head", "value", "key" }), "RWKV-6 and 7's layout");
        // As RWKV-6 (84·C per prefill token, pair decays) with C 128, F 448, H·N·N = 128·N, chunks of L 16.
        Assert.That(manifest.Activations, Is.EqualTo(new RwkvActivationInfo
        {
            StepFloatsPerSequence = (32 * 128) + (2 * 448) + (2 * 128 * headSize),
            PrefillFloatsPerToken = (84 * 128) + (3 * 448),
            WkvChunkLength = 16,
            WkvChunkFloatsPerToken = (30 * 128) + (7 * 128 * headSize / 16) + (5 * 16 * 128),
        }));
    }

    [TestCase("5.0")]
    [TestCase("5.1")]
    [TestCase("5.2")]
    public void Checkpoint_GeneratedRwkvCppFile_ReadsBackCanonicalTensors(string version)
    {
        using RwkvCheckpoint checkpoint = RwkvCheckpoint.Open(_checkpoints[version]);
        IReadOnlyList<CanonicalTensor> expected = _tensors[version];
        Assert.That(checkpoint.Tensors.Keys, Is.EquivalentTo(expected.Select(t => t.Name)));
        foreach (CanonicalTensor t in expected)
        {
            CheckpointTensor read = checkpoint.Get(t.Name);
            Assert.That(read.Shape, Is.EqualTo(t.Shape), t.Name);
            // time_decay and time_first come back through exp transforms in float32: within rounding.
            Assert.That(read.ReadFloat32(), Is.EqualTo(t.Data).Within(2e-5f), t.Name);
        }
    }

    [TestCase("5.0", RwkvForwardMode.Step, 1)]
    [TestCase("5.0", RwkvForwardMode.Prefill, 9)]
    [TestCase("5.1", RwkvForwardMode.Step, 1)]
    [TestCase("5.1", RwkvForwardMode.Prefill, 9)]
    [TestCase("5.2", RwkvForwardMode.Step, 1)]
    [TestCase("5.2", RwkvForwardMode.Prefill, 9)]
    [TestCase("5.2", RwkvForwardMode.Prefill, 64)]
    public void EveryPosition_MatchesReference(string version, RwkvForwardMode mode, int chunk)
    {
        var random = new Random(13);
        int[] tokens = Enumerable.Range(0, 40).Select(_ => random.Next(Vocab)).ToArray();
        using RwkvCheckpoint checkpoint = RwkvCheckpoint.Open(_checkpoints[version]);
        ReferenceRwkv5 reference = ReferenceRwkv5.Load(checkpoint, PublishedEpsilon);
        Assert.That(reference.Version, Is.EqualTo(version));

        RwkvModel model = _models[version];
        using RwkvRunner runner = model.CreateRunner();
        runner.PrefillChunkSize = chunk;
        using RwkvState state = model.CreateState();
        var logits = new float[tokens.Length * Vocab];
        runner.ForwardAll(tokens, state, logits, mode);

        float maxLogit = 0, maxWkv = 0;
        for (int t = 0; t < tokens.Length; t++)
        {
            float[] expected = reference.Forward(tokens[t]);
            float[] actual = logits.AsSpan(t * Vocab, Vocab).ToArray();
            maxLogit = Math.Max(maxLogit, MaxAbsDifference(actual, expected));
            Assert.That(actual, Is.EqualTo(expected).Within(1e-4f), $"position {t}");
        }
        // State layout is part of the contract: [layer slots in manifest order], wkv as [head][value][key] like RWKV-6/7,
        // the transpose of the reference's (ChatRWKV's) [head][key][value].
        // Measured: logits within 1.2e-5, wkv within 2.4e-5 (5.0, whose decays reach 0.98 per token).
        float[][] graphState = state.Current;
        for (int layer = 0; layer < Layers; layer++)
        {
            float[] expectedWkv = ReferenceMath.TransposePerHead(reference.State[layer].Wkv, reference.HeadSize);
            maxWkv = Math.Max(maxWkv, MaxAbsDifference(graphState[(3 * layer) + 1], expectedWkv));
            Assert.That(graphState[3 * layer], Is.EqualTo(reference.State[layer].AttShift).Within(1e-4f), $"att_shift.{layer}");
            Assert.That(graphState[(3 * layer) + 1], Is.EqualTo(expectedWkv).Within(2e-4f), $"wkv.{layer}");
            Assert.That(graphState[(3 * layer) + 2], Is.EqualTo(reference.State[layer].FfnShift).Within(1e-4f), $"ffn_shift.{layer}");
        }
        TestContext.Out.WriteLine($"RWKV-{version} {mode} chunk {chunk}: max |Δlogit| {maxLogit:E3}, max |Δwkv| {maxWkv:E3}");
    }

    [Test]
    public void Export_NewestOpset_MatchesReference()
    {
        // Opset 21 is the other end of ExportOptions' range; ops whose form changes with the opset must still hold.
        string directory = Path.Combine(_work, "model-5.1-opset21");
        RwkvManifest manifest = RwkvExporter.Export(_checkpoints["5.1"], directory, new ExportOptions { Opset = 21 });
        Assert.That(manifest.Opset, Is.EqualTo(21));
        int[] tokens = [3, 141, 59, 265, 35, 89, 79, 32, 38, 46, 26];
        using RwkvCheckpoint checkpoint = RwkvCheckpoint.Open(_checkpoints["5.1"]);
        ReferenceRwkv5 reference = ReferenceRwkv5.Load(checkpoint, PublishedEpsilon);
        float[] expected = [];
        foreach (int token in tokens)
        {
            expected = reference.Forward(token);
        }

        using RwkvModel model = RwkvModel.Load(directory);
        using RwkvRunner runner = model.CreateRunner();
        runner.PrefillChunkSize = 4;
        using RwkvState state = model.CreateState();
        var logits = new float[Vocab];
        runner.Forward(tokens, state, logits, RwkvForwardMode.Prefill);
        Assert.That(logits, Is.EqualTo(expected).Within(1e-4f));
    }

    [Test]
    public void Export_PerChannelDecayWithoutGate_FailsNamingTheGate()
    {
        string checkpoint = Path.Combine(_work, "no-gate.bin");
        RandomCheckpoint.WriteRwkv5(checkpoint, "5.2", layers: 1, embd: 64, headSize: 32, vocab: 50, ffn: 64, seed: 1,
            omit: ["blocks.0.att.gate.weight"]);
        CheckpointFormatException e = Assert.Throws<CheckpointFormatException>(
            () => RwkvExporter.Export(checkpoint, Path.Combine(_work, "no-gate"), new ExportOptions()))!;
        Assert.That(e.TensorName, Is.EqualTo("blocks.0.att.gate.weight"));
        Assert.That(e.Message, Does.Contain("RWKV-5.2").And.Contain("[2, 32]"));
        Assert.That(Directory.Exists(Path.Combine(_work, "no-gate")), Is.False);
    }

    [Test]
    public void Export_GatedModelMissingALaterMix_ListsIt()
    {
        string checkpoint = Path.Combine(_work, "no-mix.bin");
        RandomCheckpoint.WriteRwkv5(checkpoint, "5.1", layers: 2, embd: 64, headSize: 32, vocab: 50, ffn: 64, seed: 2,
            omit: ["blocks.1.att.time_mix_g"]);
        CheckpointFormatException e = Assert.Throws<CheckpointFormatException>(
            () => RwkvExporter.Export(checkpoint, Path.Combine(_work, "no-mix"), new ExportOptions()))!;
        Assert.That(e.Message, Does.Contain("RWKV-5.1").And.Contain("'blocks.1.att.time_mix_g'"));
    }

    private (RwkvManifest Manifest, float[] Logits) ExportAndRunPrompt(string checkpoint, string name, ExportOptions options)
    {
        string directory = Path.Combine(_work, "fixture-" + name);
        RwkvManifest manifest = RwkvExporter.Export(checkpoint, directory, options);
        using RwkvModel model = RwkvModel.Load(directory);
        using RwkvRunner runner = model.CreateRunner();
        using RwkvState state = model.CreateState();
        var logits = new float[model.VocabSize];
        runner.Forward(SharedFixtures.PromptTokens, state, logits, RwkvForwardMode.Step);
        Assert.That(RwkvManifest.Load(directory).Architecture.GroupNormEpsilon, Is.EqualTo(manifest.Architecture.GroupNormEpsilon));
        return (manifest, logits);
    }

    private static float MaxAbsDifference(float[] a, float[] b)
    {
        float max = 0;
        for (int i = 0; i < a.Length; i++)
        {
            max = Math.Max(max, Math.Abs(a[i] - b[i]));
        }
        return max;
    }
}
