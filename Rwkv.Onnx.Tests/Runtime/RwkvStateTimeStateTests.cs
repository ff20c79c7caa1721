using Rwkv.Onnx.Exceptions;
using Rwkv.Onnx.Export;
using Rwkv.Onnx.Export.Checkpoints;
using Rwkv.Onnx.Tests.Fixtures;
using Rwkv.Onnx.Tests.Parity;

namespace Rwkv.Onnx.Tests.Runtime;

/// <summary>
/// <see cref="RwkvState.FromTimeState"/>: a tuned <c>time_state</c> ([head, value, key], the layout RWKV-Runner loads
/// unchanged into RWKV-7 and transposes into ChatRWKV's RWKV-5/6 [head, key, value]) against the C# references started
/// from the same matrices as RWKV-Runner would start them; and the mapping following the manifest, not the version.
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
        string v6 = Path.Combine(_root, "6v0");
        RwkvExporter.Export(SharedFixtures.RwkvCppModel("6v0-1m", "FP32"), v6, new ExportOptions { GroupNormEpsilon = 1e-5f });
        _models["6"] = RwkvModel.Load(v6);
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

    // The model's logits from the tuned state equal the reference's after the same tokens, and differ from the zero state's.
    private static void AssertMatchesReference(RwkvModel model, float[] logits, Func<int, float[]> referenceForward)
    {
        float[] expected = [];
        foreach (int token in new[] { 34, 105, 110 })
        {
            expected = referenceForward(token);
        }

        using RwkvState zero = model.CreateState();
        Assert.Multiple(() =>
        {
            Assert.That(logits, Is.EqualTo(expected).Within(1e-3f));
            Assert.That(logits, Is.Not.EqualTo(RunnerLogits(model, zero, [34, 105, 110])).Within(1e-3f), "the tuned state matters");
        });
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
        AssertMatchesReference(model, logits, reference.Forward);
    }

    [Test]
    public void FromTimeState_Rwkv5_MatchesTheReferenceStartedFromTheTransposedMatrices()
    {
        RwkvModel model = _models["5"];
        var tensors = TimeStates(model, seed: 2);
        using RwkvState state = RwkvState.FromTimeState(model, new DictionarySource(tensors));
        float[] logits = RunnerLogits(model, state, [34, 105, 110]);

        using RwkvCheckpoint checkpoint = RwkvCheckpoint.Open(SharedFixtures.RwkvCppModel("5v2-730K", "FP32"));
        ReferenceRwkv5 reference = ReferenceRwkv5.Load(checkpoint, groupNormEpsilon: 1e-5f);
        for (int layer = 0; layer < reference.State.Count; layer++)
        {
            // RWKV-Runner: state = time_state.transpose(1, 2), from [head, value, key] into ChatRWKV's [head, key, value],
            // which the reference keeps.
            ReferenceMath.TransposePerHead(tensors[$"blocks.{layer}.att.time_state"].Data, model.Manifest.Architecture.HeadSize)
                .CopyTo(reference.State[layer].Wkv, 0);
        }
        AssertMatchesReference(model, logits, reference.Forward);
    }

    [Test]
    public void FromTimeState_Rwkv6_MatchesTheReferenceStartedFromTheSameMatrices()
    {
        RwkvModel model = _models["6"];
        var tensors = TimeStates(model, seed: 5);
        using RwkvState state = RwkvState.FromTimeState(model, new DictionarySource(tensors));
        float[] logits = RunnerLogits(model, state, [34, 105, 110]);

        using RwkvCheckpoint checkpoint = RwkvCheckpoint.Open(SharedFixtures.RwkvCppModel("6v0-1m", "FP32"));
        ReferenceRwkv6 reference = ReferenceRwkv6.Load(checkpoint, groupNormEpsilon: 1e-5f);
        for (int layer = 0; layer < reference.State.Count; layer++)
        {
            // RWKV-Runner transposes time_state into ChatRWKV's [head, key, value]; the reference, like the export, keeps
            // RWKV-6's state the other way round, [head, value, key], so it takes time_state as is.
            tensors[$"blocks.{layer}.att.time_state"].Data.CopyTo(reference.State[layer].Wkv, 0);
        }
        AssertMatchesReference(model, logits, reference.Forward);
    }

    [TestCase("5")]
    [TestCase("6")]
    [TestCase("7")]
    public void Manifest_MapsPeftTimeStateOntoTheWkvSlotInItsOwnLayout(string version)
    {
        Assert.That(_models[version].Manifest.State.Where(s => s.TimeState is not null).Select(s => s.Slot).Distinct(), Is.EqualTo(new[] { "wkv" }));
        foreach (RwkvStateTensorInfo slot in _models[version].Manifest.State)
        {
            if (slot.TimeState is { } mapping)
            {
                Assert.That(mapping.Tensor, Is.EqualTo("blocks.{layer}.att.time_state"));
                Assert.That(mapping.Layout, Is.EqualTo(new[] { "head", "value", "key" }));
                Assert.That(slot.Layout, Is.EqualTo(new[] { "head", "value", "key" }));
            }
            else
            {
                Assert.That(slot.Layout, Is.EqualTo(new[] { "channel" }), slot.Input);
            }
        }
    }

    [Test]
    public void FillFromTimeState_ManifestSayingKeyValue_TransposesEachHead()
    {
        // The mapping comes from the manifest alone: the same RWKV-7 model, with a manifest whose time_state is laid out
        // [head, key, value], gets each head's matrix transposed; with its own manifest, the matrix as is.
        RwkvManifest manifest = _models["7"].Manifest;
        var tensors = TimeStates(_models["7"], seed: 6);
        RwkvManifest keyValue = manifest with
        {
            State = [.. manifest.State.Select(s => s.TimeState is { } t ? s with { TimeState = t with { Layout = ["head", "key", "value"] } } : s)],
        };
        float[][] asIs = [.. manifest.State.Select(s => new float[s.Shape.Aggregate(1, (p, d) => p * d)])];
        float[][] transposed = [.. manifest.State.Select(s => new float[s.Shape.Aggregate(1, (p, d) => p * d)])];

        RwkvState.FillFromTimeState(manifest, new DictionarySource(tensors), asIs);
        RwkvState.FillFromTimeState(keyValue, new DictionarySource(tensors), transposed);

        int wkv = manifest.State.ToList().FindIndex(s => s is { Slot: "wkv", Layer: 3 });
        float[] source = tensors["blocks.3.att.time_state"].Data;   // [1, 64, 64]
        Assert.Multiple(() =>
        {
            Assert.That(asIs[wkv], Is.EqualTo(source));
            Assert.That(transposed[wkv][(2 * 64) + 5], Is.EqualTo(source[(5 * 64) + 2]));   // state [h, v=2, k=5] = tuned [h, k=5, v=2]
            Assert.That(transposed[wkv][(5 * 64) + 2], Is.EqualTo(source[(2 * 64) + 5]));
            Assert.That(transposed[wkv], Is.EquivalentTo(source));
            Assert.That(transposed[wkv], Is.Not.EqualTo(source));
            Assert.That(transposed[wkv - 1], Has.All.Zero, "the token shift is not mapped");
        });
    }

    [Test]
    public void FillFromTimeState_ManifestWithALongerAxis_MovesItAndNamesTheWantedShape()
    {
        // A synthetic slot [head 2, value 3, key 4] fed from a tuned tensor laid out [key, head, value] = [4, 2, 3].
        RwkvManifest manifest = _models["7"].Manifest with
        {
            State =
            [
                new RwkvStateTensorInfo
                {
                    Slot = "wkv", Layer = 0, Input = "past_wkv.0", Output = "present_wkv.0", Shape = [2, 3, 4], DType = "float32", Initial = 0,
                    Layout = ["head", "value", "key"],
                    TimeState = new RwkvTimeStateInfo { Tensor = "t.{layer}", Layout = ["key", "head", "value"] },
                },
            ],
        };
        float[] tuned = [.. Enumerable.Range(0, 24).Select(i => (float)i)];
        var destination = new float[][] { new float[24] };

        RwkvState.FillFromTimeState(manifest, new DictionarySource(new() { ["t.0"] = ([4, 2, 3], tuned) }), destination);

        for (int h = 0; h < 2; h++)
        {
            for (int v = 0; v < 3; v++)
            {
                for (int k = 0; k < 4; k++)
                {
                    Assert.That(destination[0][(((h * 3) + v) * 4) + k], Is.EqualTo(tuned[(((k * 2) + h) * 3) + v]), $"h {h} v {v} k {k}");
                }
            }
        }
        Assert.That(() => RwkvState.FillFromTimeState(manifest, new DictionarySource(new() { ["t.0"] = ([2, 3, 4], tuned) }), destination),
            Throws.TypeOf<StateMismatchException>().With.Message.Contains("has shape [2, 3, 4]").And.Message.Contains("needs [4, 2, 3] (key, head, value)"));
    }

    [Test]
    public void CheckTimeStateSource_ManifestMappingNoSlot_RefusesWithoutLookingAtTheVersion()
    {
        // RWKV-4's manifest maps no slot; so does an RWKV-7 manifest edited to drop its mapping.
        RwkvManifest manifest = _models["7"].Manifest;
        RwkvManifest unmapped = manifest with { State = [.. manifest.State.Select(s => s with { TimeState = null })] };

        Assert.That(() => RwkvState.CheckTimeStateSource(unmapped, new DictionarySource(TimeStates(_models["7"], seed: 7))),
            Throws.TypeOf<StateMismatchException>().With.Message.Contains("maps no state tensor to a tuned tensor ('time_state')"));
    }

    [Test]
    public void Manifest_TimeStateLayoutNotAPermutationOfTheSlots_IsRefused()
    {
        RwkvManifest manifest = _models["7"].Manifest;
        RwkvManifest damaged = manifest with
        {
            State = [.. manifest.State.Select(s => s.TimeState is { } t ? s with { TimeState = t with { Layout = ["head", "value", "query"] } } : s)],
        };

        var e = Assert.Throws<ModelContractException>(() => RwkvManifest.FromJson(damaged.ToJson(), "m.json"));

        Assert.That(e!.Key, Is.EqualTo("state.time_state.layout"));
        Assert.That(e.Message, Does.Contain("[head, value, query]").And.Contain("expected the axes [head, value, key] in some order"));
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
