using Rwkv.Onnx.Export;
using Rwkv.Onnx.Export.Checkpoints;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Parity;

/// <summary>
/// RWKV-6: the plain C# reference against rwkv.cpp's expected logits, the rwkv.cpp layout inversion,
/// and the export of a generated model against the reference. The 6v0-1m fixture has one decay-LoRA
/// rank equal to the width (Dw = C = 64), so a forgotten transposition of <c>time_decay_w1/w2</c> keeps
/// its shape there; the generated model has C = 96, three heads of 32, Dm = 16 and Dw = 24, so every
/// LoRA matrix is rectangular and no two of its dimensions coincide.
/// </summary>
[TestFixture]
public sealed class Rwkv6ParityTests
{
    private const string Fixture = "6v0-1m";
    private const int Vocab = 300, Layers = 3, Embedding = 96, HeadSize = 32, Ffn = 320, MixRank = 16, DecayRank = 24;
    private string _work = "";
    private string _checkpoint = "";
    private RwkvModel _model = null!;
    private readonly List<ExportProgress> _progress = [];

    [OneTimeSetUp]
    public void ExportGeneratedModel()
    {
        _work = Path.Combine(Path.GetTempPath(), "rwkv6-parity-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_work);
        _checkpoint = Path.Combine(_work, "rwkv6-3x32.bin");
        TinyCheckpoints.WriteRwkv6(_checkpoint, Layers, Embedding, HeadSize, Vocab, Ffn, MixRank, DecayRank, seed: 6);
        RwkvExporter.Export(_checkpoint, Path.Combine(_work, "model"), new ExportOptions(), new SyncProgress(_progress.Add));
        _model = RwkvModel.Load(Path.Combine(_work, "model"));
    }

    [OneTimeTearDown]
    public void Cleanup()
    {
        _model?.Dispose();
        Directory.Delete(_work, recursive: true);
    }

    // Measured: FP32 1.9e-6, FP16 2.9e-6 (the v6 original was bfloat16, so the FP16 file holds the same
    // values except a few subnormals). With epsilon 1e-5 instead of 64e-5 the logits move by 1.3e-2.
    [TestCase("FP32")]
    [TestCase("FP16")]
    public void Reference_Prompt_ReproducesRwkvCppExpectedLogits(string format)
    {
        float[] logits = ReferencePromptLogits(format, groupNormEpsilon: 64e-5f);
        float[] expected = SharedFixtures.ExpectedLogits(Fixture);
        TestContext.Out.WriteLine($"{Fixture} {format}: max |logit - expected| = {MaxAbsDifference(logits, expected):E3}");
        Assert.That(logits, Is.EqualTo(expected).Within(1e-5f));
    }

    [Test]
    public void Reference_RwkvCppV5GroupNormEpsilon_MissesExpectedLogits()
    {
        // The fixture README leaves ln_x's epsilon open for v6: rwkv.cpp made these logits with 64e-5 (as
        // ChatRWKV does), not with the 1e-5 of its v5 models, so the export default is right for 6v0-1m.
        float[] logits = ReferencePromptLogits("FP32", groupNormEpsilon: 1e-5f);
        Assert.That(MaxAbsDifference(logits, SharedFixtures.ExpectedLogits(Fixture)), Is.GreaterThan(1e-3f));
    }

    [Test]
    public void Open_Fixture_UndoesRwkvCppV6Layout()
    {
        string path = SharedFixtures.RwkvCppModel(Fixture, "FP32");
        using RwkvCppReader raw = RwkvCppReader.Open(path);
        using RwkvCheckpoint checkpoint = RwkvCheckpoint.Open(path);
        float[] Stored(string name) => raw.Tensors.Single(t => t.Name == name).ReadFloat32();

        using (Assert.EnterMultipleScope())
        {
            Assert.That(checkpoint.Get("blocks.0.att.time_maa_x").Shape, Is.EqualTo(new long[] { 1, 1, 64 }));
            Assert.That(checkpoint.Get("blocks.0.ffn.time_maa_r").Shape, Is.EqualTo(new long[] { 1, 1, 64 }));
            Assert.That(checkpoint.Get("blocks.0.att.time_maa_w1").Shape, Is.EqualTo(new long[] { 64, 160 }));
            Assert.That(checkpoint.Get("blocks.0.att.time_maa_w2").Shape, Is.EqualTo(new long[] { 5, 32, 64 }));
            Assert.That(checkpoint.Get("blocks.0.att.time_decay").Shape, Is.EqualTo(new long[] { 1, 1, 64 }));
            Assert.That(checkpoint.Get("blocks.0.att.time_faaaa").Shape, Is.EqualTo(new long[] { 8, 8 }));
        }

        // Values, layer 5: stored maa_w1 [160, 64], maa_w2 [5, 64, 32], decay_w1 [64(D), 64(C)], decay_w2 [64(C), 64(D)].
        float[] maaW1 = checkpoint.Get("blocks.5.att.time_maa_w1").ReadFloat32(), storedMaaW1 = Stored("blocks.5.att.time_maa_w1");
        float[] maaW2 = checkpoint.Get("blocks.5.att.time_maa_w2").ReadFloat32(), storedMaaW2 = Stored("blocks.5.att.time_maa_w2");
        float[] decayW1 = checkpoint.Get("blocks.5.att.time_decay_w1").ReadFloat32(), storedDecayW1 = Stored("blocks.5.att.time_decay_w1");
        float[] decayW2 = checkpoint.Get("blocks.5.att.time_decay_w2").ReadFloat32(), storedDecayW2 = Stored("blocks.5.att.time_decay_w2");
        using (Assert.EnterMultipleScope())
        {
            Assert.That(maaW1[(3 * 160) + 100], Is.EqualTo(storedMaaW1[(100 * 64) + 3]), "maa_w1[c=3, j=100] = stored[j=100, c=3]");
            Assert.That(maaW2[(2 * 32 * 64) + (7 * 64) + 50], Is.EqualTo(storedMaaW2[(2 * 64 * 32) + (50 * 32) + 7]), "maa_w2[s=2, d=7, c=50] = stored[s=2, c=50, d=7]");
            Assert.That(decayW1[(5 * 64) + 9], Is.EqualTo(storedDecayW1[(9 * 64) + 5]), "decay_w1[c=5, d=9] = stored[d=9, c=5]");
            Assert.That(decayW1[(5 * 64) + 9], Is.Not.EqualTo(storedDecayW1[(5 * 64) + 9]), "square, but transposed");
            Assert.That(decayW2[(9 * 64) + 5], Is.EqualTo(storedDecayW2[(5 * 64) + 9]), "decay_w2[d=9, c=5] = stored[c=5, d=9]");
            // time_decay is stored as is (no exp transform for v6, unlike v5): the raw w of exp(-exp(w)), mostly negative.
            Assert.That(checkpoint.Get("blocks.5.att.time_decay").ReadFloat32(), Is.EqualTo(Stored("blocks.5.att.time_decay")));
            Assert.That(checkpoint.Get("blocks.5.att.time_faaaa").ReadFloat32(), Is.EqualTo(Stored("blocks.5.att.time_faaaa")));
        }
    }

    [TestCase(TensorDType.Float32)]
    [TestCase(TensorDType.Float16)]
    public void Open_GeneratedModel_RoundTripsCanonicalTensors(TensorDType weightType)
    {
        string path = Path.Combine(_work, $"roundtrip-{weightType}.bin");
        IReadOnlyList<TinyCheckpoints.CanonicalTensor> written = TinyCheckpoints.WriteRwkv6(
            path, layers: 2, Embedding, HeadSize, Vocab, Ffn, MixRank, DecayRank, seed: 3, weightType);

        using RwkvCheckpoint checkpoint = RwkvCheckpoint.Open(path);

        Assert.That(checkpoint.Tensors.Keys, Is.EquivalentTo(written.Select(t => t.Name)));
        using (Assert.EnterMultipleScope())
        {
            foreach (TinyCheckpoints.CanonicalTensor tensor in written)
            {
                CheckpointTensor read = checkpoint.Get(tensor.Name);
                Assert.That(read.Shape, Is.EqualTo(tensor.Shape), tensor.Name);
                Assert.That(read.ReadFloat32(), Is.EqualTo(tensor.Data), tensor.Name);
            }
            Assert.That(checkpoint.Get("blocks.1.att.time_maa_w2").Shape, Is.EqualTo(new long[] { 5, MixRank, Embedding }));
            Assert.That(checkpoint.Get("blocks.1.att.time_decay_w2").Shape, Is.EqualTo(new long[] { DecayRank, Embedding }));
            Assert.That(checkpoint.Get("blocks.0.att.gate.weight").DType, Is.EqualTo(weightType));
            Assert.That(checkpoint.Get("blocks.0.att.time_maa_w1").DType, Is.EqualTo(TensorDType.Float32), "'.time_' tensors stay FP32");
        }
    }

    [Test]
    public void Manifest_RecordsDetectedShape()
    {
        RwkvArchitectureInfo a = _model.Manifest.Architecture;
        using (Assert.EnterMultipleScope())
        {
            Assert.That(a.Version, Is.EqualTo("6"));
            Assert.That((a.Layers, a.Embedding, a.Heads, a.HeadSize, a.Vocab, a.FfnSize), Is.EqualTo((Layers, Embedding, 3, HeadSize, Vocab, Ffn)));
            Assert.That(a.LoraRanks, Is.EquivalentTo(new Dictionary<string, int> { ["mix"] = MixRank, ["decay"] = DecayRank }));
            Assert.That(a.GroupNormEpsilon, Is.EqualTo(64e-5f));
            Assert.That(_model.Manifest.State.Select(s => s.Slot).Take(3), Is.EqualTo(new[] { "att_shift", "wkv", "ffn_shift" }));
            Assert.That(_model.Manifest.State[1].Shape, Is.EqualTo(new[] { 3, HeadSize, HeadSize }));
            ExportProgress lastWeight = _progress.Last(p => p.Stage == "weights");
            Assert.That(lastWeight.Done, Is.EqualTo(lastWeight.Total), "PreparedTensorCount matches what PrepareWeights writes");
        }
    }

    [TestCase(RwkvForwardMode.Step, 1)]
    [TestCase(RwkvForwardMode.Prefill, 9)]
    [TestCase(RwkvForwardMode.Prefill, 64)]
    public void EveryPosition_MatchesReference(RwkvForwardMode mode, int chunk)
    {
        var random = new Random(11);
        int[] tokens = Enumerable.Range(0, 40).Select(_ => random.Next(Vocab)).ToArray();
        using RwkvCheckpoint checkpoint = RwkvCheckpoint.Open(_checkpoint);
        ReferenceRwkv6 reference = ReferenceRwkv6.Load(checkpoint);

        using RwkvRunner runner = _model.CreateRunner();
        runner.PrefillChunkSize = chunk;
        using RwkvState state = _model.CreateState();
        var logits = new float[tokens.Length * Vocab];
        runner.ForwardAll(tokens, state, logits, mode);

        float worst = 0;
        for (int t = 0; t < tokens.Length; t++)
        {
            float[] expected = reference.Forward(tokens[t]);
            float[] actual = logits.AsSpan(t * Vocab, Vocab).ToArray();
            worst = Math.Max(worst, MaxAbsDifference(actual, expected));
            Assert.That(actual, Is.EqualTo(expected).Within(1e-4f), $"position {t}");
        }
        TestContext.Out.WriteLine($"{mode}, chunk {chunk}: max |logit - reference| = {worst:E3}");
        // State layout is part of the contract: [layer slots in manifest order], wkv as [head][value][key].
        float[][] graphState = state.Current;
        for (int layer = 0; layer < Layers; layer++)
        {
            Assert.That(graphState[3 * layer], Is.EqualTo(reference.State[layer].AttShift).Within(1e-4f), $"att_shift.{layer}");
            Assert.That(graphState[(3 * layer) + 1], Is.EqualTo(reference.State[layer].Wkv).Within(1e-3f), $"wkv.{layer}");
            Assert.That(graphState[(3 * layer) + 2], Is.EqualTo(reference.State[layer].FfnShift).Within(1e-4f), $"ffn_shift.{layer}");
        }
    }

    private static float[] ReferencePromptLogits(string format, float groupNormEpsilon)
    {
        using RwkvCheckpoint checkpoint = RwkvCheckpoint.Open(SharedFixtures.RwkvCppModel(Fixture, format));
        ReferenceRwkv6 reference = ReferenceRwkv6.Load(checkpoint, groupNormEpsilon);
        float[] logits = [];
        foreach (int token in SharedFixtures.PromptTokens)
        {
            logits = reference.Forward(token);
        }
        return logits;
    }

    private static float MaxAbsDifference(float[] actual, float[] expected)
    {
        Assert.That(actual, Has.Length.EqualTo(expected.Length));
        float max = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            max = Math.Max(max, Math.Abs(actual[i] - expected[i]));
        }
        return max;
    }

    /// <summary>Reports synchronously (Progress&lt;T&gt; posts to the thread pool).</summary>
    private sealed class SyncProgress(Action<ExportProgress> report) : IProgress<ExportProgress>
    {
        public void Report(ExportProgress value) => report(value);
    }
}
