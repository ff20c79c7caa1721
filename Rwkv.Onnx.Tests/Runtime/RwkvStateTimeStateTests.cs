using Rwkv.Onnx.Exceptions;
using Rwkv.Onnx.Export;
using Rwkv.Onnx.Export.Checkpoints;
using Rwkv.Onnx.Tests.Fixtures;
using Rwkv.Onnx.Tests.Parity;

namespace Rwkv.Onnx.Tests.Runtime;

/// <summary>
/// <see cref="RwkvState.FromTimeState"/>: a tuned <c>time_state</c> ([head, value, key], the layout RWKV-Runner loads
/// unchanged into RWKV-7 and transposes into RWKV-5/6's [head, key, value]) against the C# references started from
/// the same matrices.
/// </summary>
public class RwkvStateTimeStateTests
{
    private readonly Dictionary<string, RwkvModel> _models = [];
    private string _root = "";

    private sealed class DictionarySource(Dictionary<string, (int[] Shape, float[] Data)> tensors) : ITensorSource
    {
        public string Description => "the test's tensors";

        public bool TryGetTensor(string name, out IReadOnlyList<int> shape, out float[] data)
        {
            bool found = tensors.TryGetValue(name, out (int[] Shape, float[] Data) t);
            (shape, data) = found ? (t.Shape, t.Data) : ([], []);
            return found;
        }
    }

    [OneTimeSetUp]
    public void LoadModels()
    {
        _root = Directory.CreateTempSubdirectory("rwkv-time-state-tests-").FullName;
        _models["7"] = RwkvModel.Load(RuntimeTestModels.Tiny7);
        string v5 = Path.Combine(_root, "5v2");
        RwkvExporter.Export(SharedFixtures.RwkvCppModel("5v2-730K", "FP32"), v5, new ExportOptions { GroupNormEpsilon = 1e-5f });
        _models["5"] = RwkvModel.Load(v5);
    }

    [OneTimeTearDown]
    public void Cleanup()
    {
        foreach (RwkvModel model in _models.Values)
        {
            model.Dispose();
        }
        Directory.Delete(_root, recursive: true);
    }

    // Random, asymmetric time_state tensors for every layer of the model.
    private static Dictionary<string, (int[] Shape, float[] Data)> TimeStates(RwkvModel model, int seed)
    {
        var random = new Random(seed);
        var tensors = new Dictionary<string, (int[] Shape, float[] Data)>();
        RwkvArchitectureInfo a = model.Manifest.Architecture;
        for (int layer = 0; layer < a.Layers; layer++)
        {
            float[] data = [.. Enumerable.Range(0, a.Heads * a.HeadSize * a.HeadSize).Select(_ => (float)((random.NextDouble() * 2) - 1))];
            tensors[$"blocks.{layer}.att.time_state"] = ([a.Heads, a.HeadSize, a.HeadSize], data);
        }
        tensors["blocks.0.att.unrelated"] = ([1], [0f]);
        return tensors;
    }

    private static float[] RunnerLogits(RwkvModel model, RwkvState state, int[] tokens)
    {
        using RwkvRunner runner = model.CreateRunner();
        float[] logits = new float[model.VocabSize];
        runner.Forward(tokens, state, logits, RwkvForwardMode.Step);
        return logits;
    }

    [Test]
    public void FromTimeState_Rwkv7_MatchesTheReferenceStartedFromTheSameMatrices()
    {
        RwkvModel model = _models["7"];
        var tensors = TimeStates(model, seed: 1);
        using RwkvState state = RwkvState.FromTimeState(model, new DictionarySource(tensors));
        float[] logits = RunnerLogits(model, state, [34, 105, 110]);

        using RwkvCheckpoint checkpoint = RwkvCheckpoint.Open(SharedFixtures.RwkvCppModel("7v0-834K", "FP32"));
        ReferenceRwkv7 reference = ReferenceRwkv7.Load(checkpoint);
        for (int layer = 0; layer < reference.State.Count; layer++)
        {
            tensors[$"blocks.{layer}.att.time_state"].Data.CopyTo(reference.State[layer].Wkv, 0);   // both [head, value, key]
        }
        float[] expected = [];
        foreach (int token in new[] { 34, 105, 110 })
        {
            expected = reference.Forward(token);
        }

        using RwkvState zero = model.CreateState();
        Assert.Multiple(() =>
        {
            Assert.That(logits, Is.EqualTo(expected).Within(1e-3f));
            Assert.That(logits, Is.Not.EqualTo(RunnerLogits(model, zero, [34, 105, 110])).Within(1e-3f), "the tuned state matters");
        });
    }

    [Test]
    public void FromTimeState_Rwkv5_TransposesIntoKeyValueLayoutAndMatchesTheReference()
    {
        RwkvModel model = _models["5"];
        var tensors = TimeStates(model, seed: 2);
        using RwkvState state = RwkvState.FromTimeState(model, new DictionarySource(tensors));
        float[] logits = RunnerLogits(model, state, [34, 105, 110]);

        using RwkvCheckpoint checkpoint = RwkvCheckpoint.Open(SharedFixtures.RwkvCppModel("5v2-730K", "FP32"));
        ReferenceRwkv5 reference = ReferenceRwkv5.Load(checkpoint, groupNormEpsilon: 1e-5f);
        int n = model.Manifest.Architecture.HeadSize, heads = model.Manifest.Architecture.Heads;
        for (int layer = 0; layer < reference.State.Count; layer++)
        {
            float[] t = tensors[$"blocks.{layer}.att.time_state"].Data;   // [head, value, key]
            float[] wkv = reference.State[layer].Wkv;                      // [head, key, value]
            for (int h = 0; h < heads; h++)
            {
                for (int value = 0; value < n; value++)
                {
                    for (int key = 0; key < n; key++)
                    {
                        wkv[(((h * n) + key) * n) + value] = t[(((h * n) + value) * n) + key];
                    }
                }
            }
        }
        float[] expected = [];
        foreach (int token in new[] { 34, 105, 110 })
        {
            expected = reference.Forward(token);
        }
        Assert.That(logits, Is.EqualTo(expected).Within(1e-3f));
    }

    [Test]
    public void FromTimeState_MissingLayer_ThrowsNamingTheTensor()
    {
        var tensors = TimeStates(_models["7"], seed: 3);
        tensors.Remove("blocks.5.att.time_state");
        Assert.That(() => RwkvState.FromTimeState(_models["7"], new DictionarySource(tensors)),
            Throws.TypeOf<StateMismatchException>().With.Message.Contains("'blocks.5.att.time_state'"));
    }

    [Test]
    public void FromTimeState_WrongShapeOrExtraLayer_Throws()
    {
        var wrongShape = TimeStates(_models["7"], seed: 4);
        wrongShape["blocks.2.att.time_state"] = ([2, 32, 32], new float[2048]);
        var extraLayer = TimeStates(_models["7"], seed: 4);
        extraLayer["blocks.12.att.time_state"] = ([1, 64, 64], new float[4096]);
        Assert.Multiple(() =>
        {
            Assert.That(() => RwkvState.FromTimeState(_models["7"], new DictionarySource(wrongShape)),
                Throws.TypeOf<StateMismatchException>().With.Message.Contains("[2, 32, 32]").And.Message.Contains("[1, 64, 64]"));
            Assert.That(() => RwkvState.FromTimeState(_models["7"], new DictionarySource(extraLayer)),
                Throws.TypeOf<StateMismatchException>().With.Message.Contains("only 12 layers"));
        });
    }
}
