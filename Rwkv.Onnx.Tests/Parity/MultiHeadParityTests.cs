using Rwkv.Onnx.Export;
using Rwkv.Onnx.Export.Checkpoints;
using Rwkv.Onnx.Export.RandomCheckpoints;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Parity;

/// <summary>
/// The tiny fixture has one head, so it cannot catch per-head mistakes (per-head L2 norm of k·k_k,
/// per-head group norm, the r_k bonus). A generated model with two heads of 64, unequal LoRA ranks and
/// an odd vocabulary is exported and compared with the plain C# reference at every position, in both
/// graph modes, logits and state.
/// </summary>
[TestFixture]
public sealed class MultiHeadParityTests
{
    private const int Vocab = 300;
    private string _work = "";
    private string _checkpoint = "";
    private RwkvModel _model = null!;

    [OneTimeSetUp]
    public void ExportGeneratedModel()
    {
        _work = Path.Combine(Path.GetTempPath(), "rwkv-multihead-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_work);
        _checkpoint = Path.Combine(_work, "rwkv7-2x64.bin");
        RandomCheckpoint.WriteRwkv7(_checkpoint, layers: 3, embd: 128, headSize: 64, vocab: Vocab, ffn: 512,
            loraW: 32, loraA: 24, loraV: 16, loraG: 64, seed: 7);
        RwkvExporter.Export(_checkpoint, Path.Combine(_work, "model"), new ExportOptions());
        _model = RwkvModel.Load(Path.Combine(_work, "model"));
    }

    [OneTimeTearDown]
    public void Cleanup()
    {
        _model?.Dispose();
        Directory.Delete(_work, recursive: true);
    }

    [Test]
    public void Manifest_RecordsDetectedShape()
    {
        RwkvArchitectureInfo a = _model.Manifest.Architecture;
        Assert.That((a.Layers, a.Embedding, a.Heads, a.HeadSize, a.Vocab, a.FfnSize), Is.EqualTo((3, 128, 2, 64, Vocab, 512)));
        Assert.That(a.LoraRanks, Is.EquivalentTo(new Dictionary<string, int> { ["w"] = 32, ["a"] = 24, ["v"] = 16, ["g"] = 64 }));
    }

    [Test]
    public void OneLayerModel_WithoutAValueLora_ExportsLoadsAndMatchesReference()
    {
        // Layer 0 has no value LoRA; a one-layer model's manifest once recorded its rank as 0, which Load refuses.
        string checkpoint = Path.Combine(_work, "rwkv7-1-layer.bin");
        RandomCheckpoint.WriteRwkv7(checkpoint, layers: 1, embd: 128, headSize: 64, vocab: Vocab, ffn: 512,
            loraW: 32, loraA: 24, loraV: 16, loraG: 64, seed: 3);
        RwkvExporter.Export(checkpoint, Path.Combine(_work, "one-layer"), new ExportOptions());
        using RwkvModel model = RwkvModel.Load(Path.Combine(_work, "one-layer"));
        Assert.That(model.Manifest.Architecture.LoraRanks, Is.EquivalentTo(new Dictionary<string, int> { ["w"] = 32, ["a"] = 24, ["g"] = 64 }));

        int[] tokens = [5, 299, 0, 17, 42];
        using RwkvCheckpoint opened = RwkvCheckpoint.Open(checkpoint);
        ReferenceRwkv7 reference = ReferenceRwkv7.Load(opened);
        using RwkvRunner runner = model.CreateRunner();
        using RwkvState state = model.CreateState();
        var logits = new float[tokens.Length * Vocab];
        runner.ForwardAll(tokens, state, logits, RwkvForwardMode.Prefill);
        for (int t = 0; t < tokens.Length; t++)
        {
            Assert.That(logits.AsSpan(t * Vocab, Vocab).ToArray(), Is.EqualTo(reference.Forward(tokens[t])).Within(1e-4f), $"position {t}");
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
        ReferenceRwkv7 reference = ReferenceRwkv7.Load(checkpoint);

        using RwkvRunner runner = _model.CreateRunner();
        runner.PrefillChunkSize = chunk;
        using RwkvState state = _model.CreateState();
        var logits = new float[tokens.Length * Vocab];
        runner.ForwardAll(tokens, state, logits, mode);

        for (int t = 0; t < tokens.Length; t++)
        {
            float[] expected = reference.Forward(tokens[t]);
            Assert.That(logits.AsSpan(t * Vocab, Vocab).ToArray(), Is.EqualTo(expected).Within(1e-4f), $"position {t}");
        }
        // State layout is part of the contract: [layer slots in manifest order], wkv as [head][value][key].
        float[][] graphState = state.Current;
        for (int layer = 0; layer < 3; layer++)
        {
            Assert.That(graphState[3 * layer], Is.EqualTo(reference.State[layer].AttShift).Within(1e-4f), $"att_shift.{layer}");
            Assert.That(graphState[(3 * layer) + 1], Is.EqualTo(reference.State[layer].Wkv).Within(1e-3f), $"wkv.{layer}");
            Assert.That(graphState[(3 * layer) + 2], Is.EqualTo(reference.State[layer].FfnShift).Within(1e-4f), $"ffn_shift.{layer}");
        }
    }
}
