using System.Text;
using Rwkv.Onnx.Exceptions;

namespace Rwkv.Onnx.Tests.Runtime;

[TestFixture(RwkvStateLocation.Host)]
[TestFixture(RwkvStateLocation.Device)] // the device path, run on the CPU provider's memory
public class RwkvStateTests(RwkvStateLocation stateLocation)
{
    private const int Vocab = 256;

    private RwkvModel _model = null!; // set in OneTimeSetUp; shared, as a model is thread-safe
    private RwkvRunner _runner = null!; // set in SetUp

    [OneTimeSetUp]
    public void LoadModel() => _model = RwkvModel.Load(RuntimeTestModels.Tiny7, new RwkvModelOptions { StateLocation = stateLocation });

    [OneTimeTearDown]
    public void DisposeModel() => _model.Dispose();

    [SetUp]
    public void CreateRunner() => _runner = _model.CreateRunner();

    [TearDown]
    public void DisposeRunner() => _runner.Dispose();

    [Test]
    public void CreateState_HasOneBufferPerManifestTensor_SizedBatchTimesShape_AtInitialValue()
    {
        using RwkvState state = _model.CreateState(3);

        Assert.That(state.BatchSize, Is.EqualTo(3));
        Assert.That(state.Current, Has.Length.EqualTo(_model.Manifest.State.Count));
        for (int i = 0; i < state.Current.Length; i++)
        {
            RwkvStateTensorInfo tensor = _model.Manifest.State[i];
            Assert.That(state.Current[i], Has.Length.EqualTo(3 * tensor.Shape.Aggregate(1, (p, d) => p * d)));
            Assert.That(state.Current[i], Is.All.EqualTo(tensor.Initial));
        }
    }

    [Test]
    public void Reset_AfterForward_RestoresInitialState()
    {
        using RwkvState state = _model.CreateState();
        _runner.Forward([1, 2, 3], state, new float[Vocab]);
        Assume.That(state.Current.SelectMany(b => b), Has.Some.Not.Zero);

        state.Reset();

        Assert.That(state.Current.SelectMany(b => b), Is.All.Zero);
    }

    [Test]
    public void SaveLoad_RoundTrip_ReproducesStateAndNextLogits()
    {
        using RwkvState state = _model.CreateState();
        _runner.Forward([34, 105], state, new float[Vocab]);
        using var stream = new MemoryStream();

        state.Save(stream);
        stream.Position = 0;
        using RwkvState loaded = RwkvState.Load(_model, stream);

        Assert.That(stream.Position, Is.EqualTo(stream.Length));
        Assert.That(loaded.BatchSize, Is.EqualTo(1));
        Assert.That(loaded.Current, Is.EqualTo(state.Current));
        var logits = new float[Vocab];
        _runner.Forward([110], loaded, logits);
        Assert.That(logits, Is.EqualTo(RuntimeTestModels.Tiny7ExpectedLogits).Within(1e-5f));
    }

    [Test]
    public void SaveLoad_BatchTwo_KeepsBatchSize()
    {
        using RwkvState state = _model.CreateState(2);
        _runner.ForwardBatch([1, 2, 3, 4], 2, state, new float[2 * Vocab]);
        using var stream = new MemoryStream();
        state.Save(stream);
        stream.Position = 0;

        using RwkvState loaded = RwkvState.Load(_model, stream);

        Assert.That(loaded.BatchSize, Is.EqualTo(2));
        Assert.That(loaded.Current, Is.EqualTo(state.Current));
    }

    // Header layout: magic (0), format version (4), layer count (8), embedding (12), then the version string.
    [TestCase(4, "format version")]
    [TestCase(8, "layer count")]
    [TestCase(12, "embedding size")]
    public void Load_HeaderFieldDiffers_ThrowsStateMismatchNamingField(int offset, string field)
    {
        byte[] saved = SaveFreshState();
        saved[offset]++;

        var e = Assert.Throws<StateMismatchException>(() => RwkvState.Load(_model, new MemoryStream(saved)));

        Assert.That(e.Message, Does.Contain(field));
        Assert.That(e.Actual, Is.Not.EqualTo(e.Expected));
    }

    [Test]
    public void Load_ElementCountDiffers_ThrowsStateMismatchNamingTensor()
    {
        byte[] saved = SaveFreshState();
        saved[FirstTensorEntryOffset()]++;

        var e = Assert.Throws<StateMismatchException>(() => RwkvState.Load(_model, new MemoryStream(saved)));

        Assert.That(e.Message, Does.Contain($"element count of '{_model.Manifest.State[0].Input}'"));
    }

    [Test]
    public void Load_LayoutDiffers_ThrowsStateMismatchNamingTensorAndBothLayouts()
    {
        // A wkv state saved as [head][key][value] (RWKV-5 before format 2) must not load into a [head][value][key] slot.
        int wkv = _model.Manifest.State.Select((s, i) => (s, i)).First(p => p.s.Layout.Count == 3).i;
        string layout = string.Join(",", _model.Manifest.State[wkv].Layout);
        Assert.That(layout, Is.EqualTo("head,value,key"));
        byte[] saved = SaveFreshState();
        int at = IndexOf(saved, Encoding.UTF8.GetBytes(layout));
        Encoding.UTF8.GetBytes("head,key,value").CopyTo(saved, at);

        var e = Assert.Throws<StateMismatchException>(() => RwkvState.Load(_model, new MemoryStream(saved)));

        Assert.That(e.Message, Does.Contain($"layout of '{_model.Manifest.State[wkv].Input}'"));
        Assert.That(e.Actual, Is.EqualTo("head,key,value"));
        Assert.That(e.Expected, Is.EqualTo("head,value,key"));
    }

    [Test]
    public void Load_FormatVersionOne_RefusedWithHowToMakeANewOne()
    {
        byte[] saved = SaveFreshState();
        saved[4] = 1;

        var e = Assert.Throws<StateMismatchException>(() => RwkvState.Load(_model, new MemoryStream(saved)));

        Assert.That(e.Message, Does.Contain("format version 1").And.Contain("save it again"));
    }

    [Test]
    public void Load_NotAState_ThrowsInvalidData()
    {
        Assert.That(() => RwkvState.Load(_model, new MemoryStream([.. "not a state at all"u8])), Throws.TypeOf<InvalidDataException>());
    }

    [Test]
    public void Load_Truncated_ThrowsEndOfStream()
    {
        byte[] saved = SaveFreshState();

        Assert.That(() => RwkvState.Load(_model, new MemoryStream(saved[..^4])), Throws.TypeOf<EndOfStreamException>());
    }

    [Test]
    public void Clone_IsIndependentOfOriginal()
    {
        using RwkvState state = _model.CreateState();
        _runner.Forward([34, 105], state, new float[Vocab]);

        using RwkvState clone = state.Clone();
        float[][] snapshot = [.. clone.Current.Select(b => b.ToArray())];
        _runner.Forward([110, 111, 112], state, new float[Vocab]);

        Assert.That(clone.Current, Is.EqualTo(snapshot));
        var logits = new float[Vocab];
        _runner.Forward([110], clone, logits);
        Assert.That(logits, Is.EqualTo(RuntimeTestModels.Tiny7ExpectedLogits).Within(1e-5f));
    }

    [Test]
    public void CopyFrom_SameModelAndBatch_CopiesValues()
    {
        using RwkvState source = _model.CreateState();
        using RwkvState target = _model.CreateState();
        _runner.Forward([34, 105], source, new float[Vocab]);

        target.CopyFrom(source);

        Assert.That(target.Current, Is.EqualTo(source.Current));
    }

    [Test]
    public void CopyFrom_OtherBatchSize_ThrowsStateMismatch()
    {
        using RwkvState one = _model.CreateState(1);
        using RwkvState two = _model.CreateState(2);

        var e = Assert.Throws<StateMismatchException>(() => one.CopyFrom(two));

        Assert.That(e.Expected, Is.EqualTo("batch 1"));
        Assert.That(e.Actual, Is.EqualTo("batch 2"));
    }

    [Test]
    public void CopyFrom_OtherModelInstance_ThrowsStateMismatch()
    {
        using var other = RwkvModel.Load(RuntimeTestModels.Tiny7, new RwkvModelOptions { StateLocation = stateLocation });
        using RwkvState mine = _model.CreateState();
        using RwkvState foreign = other.CreateState();

        Assert.That(() => mine.CopyFrom(foreign), Throws.TypeOf<StateMismatchException>());
    }

    [Test]
    public void Dispose_StateBeforeRunnerAndModel_IsSafe()
    {
        var model = RwkvModel.Load(RuntimeTestModels.Tiny7, new RwkvModelOptions { StateLocation = stateLocation });
        RwkvRunner runner = model.CreateRunner();
        RwkvState state = model.CreateState();
        runner.Forward([1, 2], state, new float[Vocab], RwkvForwardMode.Step); // binds the state's buffers

        state.Dispose();
        state.Dispose();
        runner.Dispose();
        model.Dispose();

        Assert.That(state.Reset, Throws.TypeOf<ObjectDisposedException>());
    }

    [Test]
    public void Dispose_ModelBeforeStateAndRunner_IsSafe_AndStateRefusesUse()
    {
        var model = RwkvModel.Load(RuntimeTestModels.Tiny7, new RwkvModelOptions { StateLocation = stateLocation });
        RwkvRunner runner = model.CreateRunner();
        RwkvState state = model.CreateState();
        runner.Forward([1], state, new float[Vocab]); // binds the state's buffers

        model.Dispose();

        Assert.That(state.Reset, Throws.TypeOf<ObjectDisposedException>());
        Assert.That(state.Clone, Throws.TypeOf<ObjectDisposedException>());
        Assert.That(() => state.Save(new MemoryStream()), Throws.TypeOf<ObjectDisposedException>());
        Assert.That(() => RwkvState.Load(model, new MemoryStream()), Throws.TypeOf<ObjectDisposedException>());
        Assert.That(runner.Dispose, Throws.Nothing);
        Assert.That(state.Dispose, Throws.Nothing);
    }

    [Test]
    public void Dispose_RunnerAfterItsStateChanged_IsSafe()
    {
        using var model = RwkvModel.Load(RuntimeTestModels.Tiny7, new RwkvModelOptions { StateLocation = stateLocation });
        RwkvRunner runner = model.CreateRunner();
        RwkvState first = model.CreateState();
        using RwkvState second = model.CreateState();
        runner.Forward([1], first, new float[Vocab]);
        first.Dispose();

        runner.Forward([1], second, new float[Vocab]); // rebuilds the binding for the live state

        Assert.That(() => runner.Forward([1], first, new float[Vocab]), Throws.TypeOf<ObjectDisposedException>());
        Assert.That(runner.Dispose, Throws.Nothing);
    }

    // The first tensor's element count follows the header's batch size and tensor count.
    private int FirstTensorEntryOffset() =>
        (4 * sizeof(int)) + 1 + Encoding.UTF8.GetByteCount(_model.Manifest.Architecture.Version) + (2 * sizeof(int));

    private static int IndexOf(byte[] haystack, byte[] needle)
    {
        for (int i = 0; i + needle.Length <= haystack.Length; i++)
        {
            if (haystack.AsSpan(i, needle.Length).SequenceEqual(needle))
            {
                return i;
            }
        }
        throw new AssertionException("The saved state does not contain the layout text.");
    }

    private byte[] SaveFreshState()
    {
        using RwkvState state = _model.CreateState();
        using var stream = new MemoryStream();
        state.Save(stream);
        return stream.ToArray();
    }
}
