using Rwkv.Onnx.Exceptions;
using Rwkv.Onnx.Generation;
using Rwkv.Onnx.Tests.Fixtures;
using Rwkv.Onnx.Tokenization;

namespace Rwkv.Onnx.Tests.Reliability;

/// <summary>Bad runtime input gets a clear error naming what is wrong, and leaves the state untouched.</summary>
[TestFixture]
public sealed class RuntimeInputTests
{
    private const int Vocab = 256;

    private RwkvModel _model = null!;
    private RwkvRunner _runner = null!;

    [OneTimeSetUp]
    public void LoadModel()
    {
        _model = RwkvModel.Load(RuntimeReliabilityModels.Tiny7);
        _runner = _model.CreateRunner();
    }

    [OneTimeTearDown]
    public void DisposeModel()
    {
        _runner.Dispose();
        _model.Dispose();
    }

    [TestCase(RwkvForwardMode.Step)]
    [TestCase(RwkvForwardMode.Prefill)]
    public void ForwardBatch_TokenOutsideVocabulary_NamesSequencePositionIdAndVocab_AndLeavesStateUnchanged(RwkvForwardMode mode)
    {
        using RwkvState state = _model.CreateState(2);
        _runner.ForwardBatch([1, 2, 3, 4], 2, state, new float[2 * Vocab]);
        byte[] before = Save(state);

        var error = Assert.Throws<ArgumentOutOfRangeException>(() =>
            _runner.ForwardBatch([5, 6, 7, 300], 2, state, new float[2 * Vocab], mode == RwkvForwardMode.Step ? RwkvForwardMode.Auto : mode));

        Assert.That(error.ParamName, Is.EqualTo("tokens"));
        Assert.That(error.ActualValue, Is.EqualTo(300));
        Assert.That(error.Message, Does.Contain("300").And.Contain("position 3").And.Contain("sequence 1").And.Contain("[0, 256)"));
        Assert.That(Save(state), Is.EqualTo(before), "a rejected call must not advance the state");
    }

    [Test]
    public void Forward_NegativeTokenInPrefill_ThrowsBeforeRunning()
    {
        using RwkvState state = _model.CreateState();
        byte[] before = Save(state);

        Assert.That(() => _runner.Forward([10, 20, -5, 30], state, new float[Vocab], RwkvForwardMode.Prefill),
            Throws.TypeOf<ArgumentOutOfRangeException>().With.Message.Contain("-5").And.Message.Contain("position 2"));
        Assert.That(() => _runner.ForwardAll([10, int.MinValue], state, new float[2 * Vocab]),
            Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("tokens"));
        Assert.That(Save(state), Is.EqualTo(before));
    }

    [Test]
    public void Forward_EmptyTokens_ThrowsArgumentException()
    {
        using RwkvState state = _model.CreateState();
        Assert.That(() => _runner.Forward([], state, new float[Vocab]),
            Throws.ArgumentException.With.Property("ParamName").EqualTo("tokens"));
        Assert.That(() => _runner.ForwardAll([], state, []),
            Throws.ArgumentException.With.Property("ParamName").EqualTo("tokens"));
        Assert.That(() => _runner.ForwardBatch([], 1, state, new float[Vocab]),
            Throws.ArgumentException.With.Property("ParamName").EqualTo("tokens"));
    }

    [TestCase(0)]
    [TestCase(-3)]
    public void CreateState_BatchSizeBelowOne_Throws(int batchSize)
    {
        Assert.That(() => _model.CreateState(batchSize),
            Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("batchSize"));
    }

    [Test]
    public void ForwardBatch_SequenceLengthZero_Throws()
    {
        using RwkvState state = _model.CreateState(2);
        Assert.That(() => _runner.ForwardBatch([1, 2], 0, state, new float[2 * Vocab]),
            Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("sequenceLength"));
        Assert.That(() => _runner.ForwardBatch([1, 2, 3], 2, state, new float[2 * Vocab]),
            Throws.ArgumentException.With.Message.Contain("2 × 2").And.Message.Contain("got 3"));
    }

    [TestCase(Vocab - 1)]
    [TestCase(Vocab + 1)]
    [TestCase(0)]
    public void Forward_LogitsOfWrongSize_NamesExpectedAndActual(int length)
    {
        using RwkvState state = _model.CreateState();
        Assert.That(() => _runner.Forward([1], state, new float[length]),
            Throws.ArgumentException.With.Property("ParamName").EqualTo("logits")
                .And.Message.Contain($"has {length} floats").And.Message.Contain($"expected {Vocab}"));
        Assert.That(() => _runner.ForwardAll([1, 2], state, new float[Vocab]),
            Throws.ArgumentException.With.Message.Contain($"expected {2 * Vocab}"));
    }

    [Test]
    public void Forward_StateOfAnotherModelInstance_ThrowsStateMismatch()
    {
        using RwkvModel other = RwkvModel.Load(RuntimeReliabilityModels.Tiny7Fp16);
        using RwkvState foreign = other.CreateState();
        using RwkvState own = _model.CreateState();

        Assert.That(() => _runner.Forward([1], foreign, new float[Vocab]),
            Throws.TypeOf<StateMismatchException>().With.Message.Contain(RuntimeReliabilityModels.Tiny7Fp16));
        Assert.That(() => own.CopyFrom(foreign), Throws.TypeOf<StateMismatchException>());
    }

    [Test]
    public void Forward_StateOfAnotherBatchSize_ThrowsStateMismatch()
    {
        using RwkvState batch2 = _model.CreateState(2);
        using RwkvState batch1 = _model.CreateState();

        Assert.That(() => _runner.Forward([1], batch2, new float[Vocab]),
            Throws.TypeOf<StateMismatchException>().With.Property("Expected").EqualTo("batch 1").And.Property("Actual").EqualTo("batch 2"));
        Assert.That(() => batch1.CopyFrom(batch2), Throws.TypeOf<StateMismatchException>());
    }

    [TestCase(float.NaN, 0, 0)]
    [TestCase(float.PositiveInfinity, 5, 17)]
    [TestCase(float.NegativeInfinity, 34, 4095)]
    public void Load_SavedStateWithNonFiniteValue_ThrowsNamingTensorAndIndex(float bad, int tensor, int index)
    {
        using RwkvState state = _model.CreateState();
        _runner.Forward([72, 101, 108], state, new float[Vocab]);
        byte[] saved = Save(state);
        IReadOnlyList<RwkvStateTensorInfo> tensors = _model.Manifest.State;
        Assume.That(index, Is.LessThan(tensors[tensor].Shape.Aggregate(1, (p, d) => p * d)));

        // The tensors are the last bytes of the file, little-endian float32 in manifest order.
        long payload = tensors.Sum(t => t.Shape.Aggregate(4L, (p, d) => p * d));
        long offset = saved.Length - payload + (4L * tensors.Take(tensor).Sum(t => t.Shape.Aggregate(1L, (p, d) => p * d))) + (4L * index);
        BitConverter.GetBytes(bad).CopyTo(saved, offset);

        var error = Assert.Throws<NonFiniteValueException>(() => RwkvState.Load(_model, new MemoryStream(saved)));
        Assert.That(error.TensorName, Is.EqualTo(tensors[tensor].Input));
        Assert.That(error.Index, Is.EqualTo(index));
        Assert.That(error.Value, Is.EqualTo(bad));
        Assert.That(error.Message, Does.Contain($"'{tensors[tensor].Input}'").And.Contain($"index {index}"));
    }

    [Test]
    public void FromTimeState_NonFiniteValue_ThrowsNamingTensorAndIndex()
    {
        var source = new DictionarySource();
        foreach (RwkvStateTensorInfo slot in _model.Manifest.State.Where(s => s.Slot == "wkv"))
        {
            source.Tensors[$"blocks.{slot.Layer}.att.time_state"] = (slot.Shape, new float[slot.Shape.Aggregate(1, (p, d) => p * d)]);
        }
        using (RwkvState valid = RwkvState.FromTimeState(_model, source))
        {
            Assert.That(valid.BatchSize, Is.EqualTo(1));
        }
        source.Tensors["blocks.4.att.time_state"].Data[123] = float.NaN;

        var error = Assert.Throws<NonFiniteValueException>(() => RwkvState.FromTimeState(_model, source));
        Assert.That((error.TensorName, error.Index), Is.EqualTo(("blocks.4.att.time_state", 123L)));
        Assert.That(error.Message, Does.Contain("NaN").And.Contain(source.Description));
    }

    [Test]
    public void NonFiniteLogits_CheckedOnRequest_AndGenerationRefusesToSample()
    {
        // Same size as the real weights, every float NaN: loads (no checksum asked), computes NaN logits.
        string damaged = RuntimeReliabilityModels.CopyModel(RuntimeReliabilityModels.Tiny7);
        string weights = Path.Combine(damaged, RwkvContract.WeightsFile);
        byte[] nan = new byte[new FileInfo(weights).Length];
        for (int i = 0; i + 4 <= nan.Length; i += 4)
        {
            BitConverter.GetBytes(float.NaN).CopyTo(nan, i);
        }
        File.WriteAllBytes(weights, nan);

        var logits = new float[Vocab];
        using (RwkvModel plain = RwkvModel.Load(damaged))
        using (RwkvRunner runner = plain.CreateRunner())
        using (RwkvState state = plain.CreateState())
        {
            runner.Forward([65], state, logits);
            Assert.That(logits.Any(float.IsNaN), Is.True, "the damaged weights must reach the logits for this test to mean anything");
        }

        using (RwkvModel model = RwkvModel.Load(damaged, new RwkvModelOptions { CheckFiniteLogits = true }))
        using (RwkvRunner runner = model.CreateRunner())
        using (RwkvState state = model.CreateState())
        {
            var error = Assert.Throws<NonFiniteValueException>(() => runner.Forward([65], state, logits));
            Assert.That(error.TensorName, Is.EqualTo(RwkvContract.LogitsOutput));
            Assert.That(() => runner.ForwardAll([65, 66, 67], state, new float[3 * Vocab], RwkvForwardMode.Prefill),
                Throws.TypeOf<NonFiniteValueException>());
        }

        using (RwkvModel generatorModel = RwkvModel.Load(damaged))
        using (var generator = new TextGenerator(generatorModel, ByteTokenizer.Create()))
        {
            Assert.That(() => generator.Generate("Hi", new GenerationOptions { MaxTokens = 4 }),
                Throws.TypeOf<NonFiniteValueException>().With.Message.Contain("before generated token 0"));
        }

        using RwkvModel batchModel = RwkvModel.Load(damaged);
        using var batch = new BatchGenerator(batchModel, ByteTokenizer.Create());
        batch.Add("Hi", new GenerationOptions { MaxTokens = 4 });
        Assert.That(() => batch.Step(), Throws.TypeOf<NonFiniteValueException>().With.Message.Contain("batch sequence"));
    }

    [Test]
    public void CheckFiniteLogits_BatchStep_NamesTheSequencePositionAndToken()
    {
        string damaged = RuntimeReliabilityModels.CopyModel(RuntimeReliabilityModels.Tiny7);
        DamagedWeights.NaNEmbeddingRow(damaged, 66);
        using RwkvModel model = RwkvModel.Load(damaged, new RwkvModelOptions { CheckFiniteLogits = true });
        using RwkvRunner runner = model.CreateRunner();
        using RwkvState state = model.CreateState(batchSize: 2);

        // Sequence 0 never sees token 66; sequence 1 does at position 1. Stepping keeps the sequences apart.
        var error = Assert.Throws<NonFiniteValueException>(() => runner.ForwardBatch([65, 67, 65, 66], 2, state, new float[2 * Vocab], RwkvForwardMode.Step));

        Assert.That((error!.TensorName, error.Index), Is.EqualTo((RwkvContract.LogitsOutput, (long)Vocab)));
        Assert.That(error.Message, Does.StartWith($"The model loaded from '{damaged}' produced NaN at logit 0 (of {Vocab}) after the token at position 1 of sequence 1 (id 66;"));
    }

    private static byte[] Save(RwkvState state)
    {
        using var stream = new MemoryStream();
        state.Save(stream);
        return stream.ToArray();
    }

    private sealed class DictionarySource : ITensorSource
    {
        public Dictionary<string, (IReadOnlyList<int> Shape, float[] Data)> Tensors { get; } = [];

        public string Description => "the test's tuned state";

        public bool TryGetTensor(string name, out IReadOnlyList<int> shape, out float[] data)
        {
            bool found = Tensors.TryGetValue(name, out (IReadOnlyList<int> Shape, float[] Data) tensor);
            (shape, data) = found ? tensor : ([], []);
            return found;
        }
    }
}
