using Rwkv.Onnx.Exceptions;

namespace Rwkv.Onnx.Tests.Runtime;

[TestFixture(RwkvStateLocation.Host)]
[TestFixture(RwkvStateLocation.Device)] // the device path, run on the CPU provider's memory
public class RwkvRunnerTests(RwkvStateLocation stateLocation)
{
    private const int Vocab = 256;
    private const float Tolerance = 1e-5f;

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

    [TestCase(RwkvForwardMode.Step)]
    [TestCase(RwkvForwardMode.Prefill)]
    [TestCase(RwkvForwardMode.Auto)]
    public void Forward_Prompt_MatchesRwkvCppExpectedLogits(RwkvForwardMode mode)
    {
        using RwkvState state = _model.CreateState();
        var logits = new float[Vocab];

        _runner.Forward(RuntimeTestModels.Prompt, state, logits, mode);

        Assert.That(logits, Is.EqualTo(RuntimeTestModels.Tiny7ExpectedLogits).Within(Tolerance));
    }

    [Test]
    public void Forward_OneTokenAtATime_MatchesRwkvCppExpectedLogits()
    {
        using RwkvState state = _model.CreateState();
        var logits = new float[Vocab];

        foreach (int token in RuntimeTestModels.Prompt)
        {
            _runner.Forward([token], state, logits);
        }

        Assert.That(logits, Is.EqualTo(RuntimeTestModels.Tiny7ExpectedLogits).Within(Tolerance));
    }

    [TestCase(1)]
    [TestCase(2)]
    [TestCase(64)]
    public void Forward_PrefillInChunks_MatchesRwkvCppExpectedLogits(int chunkSize)
    {
        using RwkvState state = _model.CreateState();
        var logits = new float[Vocab];
        _runner.PrefillChunkSize = chunkSize;

        _runner.Forward(RuntimeTestModels.Prompt, state, logits, RwkvForwardMode.Prefill);

        Assert.That(logits, Is.EqualTo(RuntimeTestModels.Tiny7ExpectedLogits).Within(Tolerance));
    }

    [Test]
    public void ForwardAll_PrefillInChunks_MatchesStepPerPosition()
    {
        int[] tokens = [.. "Hello, RWKV!"u8.ToArray().Select(b => (int)b)];
        using RwkvState stepState = _model.CreateState();
        using RwkvState prefillState = _model.CreateState();
        var stepLogits = new float[tokens.Length * Vocab];
        var prefillLogits = new float[tokens.Length * Vocab];
        _runner.PrefillChunkSize = 5; // chunks of 5, 5 and 2

        _runner.ForwardAll(tokens, stepState, stepLogits, RwkvForwardMode.Step);
        _runner.ForwardAll(tokens, prefillState, prefillLogits, RwkvForwardMode.Prefill);

        Assert.That(prefillLogits, Is.EqualTo(stepLogits).Within(Tolerance));
        Assert.That(prefillState.Current, Is.EqualTo(stepState.Current).Within(Tolerance));
    }

    [Test]
    public void ForwardAll_LastRow_IsForwardLogits()
    {
        int[] tokens = RuntimeTestModels.Prompt;
        using RwkvState state = _model.CreateState();
        var all = new float[tokens.Length * Vocab];

        _runner.ForwardAll(tokens, state, all);

        Assert.That(all[^Vocab..], Is.EqualTo(RuntimeTestModels.Tiny7ExpectedLogits).Within(Tolerance));
    }

    [TestCase(RwkvForwardMode.Step)]
    [TestCase(RwkvForwardMode.Prefill)]
    public void ForwardBatch_TwoSequences_MatchesEachSequenceAlone(RwkvForwardMode mode)
    {
        int[] first = [34, 105, 110, 32];
        int[] second = [72, 101, 108, 108];
        using RwkvState batch = _model.CreateState(2);
        var batchLogits = new float[2 * Vocab];

        _runner.ForwardBatch([.. first, .. second], 4, batch, batchLogits, mode);

        Assert.That(batchLogits[..Vocab], Is.EqualTo(ForwardAlone(first)).Within(Tolerance));
        Assert.That(batchLogits[Vocab..], Is.EqualTo(ForwardAlone(second)).Within(Tolerance));
    }

    [Test]
    public void Forward_AlternatingStates_KeepsEachConversationSeparate()
    {
        using RwkvState a = _model.CreateState();
        using RwkvState b = _model.CreateState();
        var logitsA = new float[Vocab];
        var logitsB = new float[Vocab];

        // Interleave two conversations through one runner: the cached binding is rebuilt on every switch.
        int[] prompt = RuntimeTestModels.Prompt;
        for (int i = 0; i < prompt.Length; i++)
        {
            _runner.Forward([prompt[i]], a, logitsA);
            _runner.Forward([72 + i], b, logitsB);
        }

        Assert.That(logitsA, Is.EqualTo(RuntimeTestModels.Tiny7ExpectedLogits).Within(Tolerance));
        Assert.That(logitsB, Is.EqualTo(ForwardAlone([72, 73, 74])).Within(Tolerance));
    }

    [Test]
    public void Forward_StepLoop_AllocatesNoManagedMemoryPerToken()
    {
        using RwkvState state = _model.CreateState();
        var logits = new float[Vocab];
        int[] token = [65];
        _runner.Forward(token, state, logits); // builds the binding
        _runner.Forward(token, state, logits); // and runs the other buffer set once

        // A per-token allocation shows in every round; a one-off allocation by the runtime or the test host
        // on this thread (seen once under heavy load: 6 KB in one round) shows in at most one.
        var rounds = new long[3];
        for (int round = 0; round < rounds.Length; round++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 100; i++)
            {
                token[0] = i;
                _runner.Forward(token, state, logits);
            }
            rounds[round] = GC.GetAllocatedBytesForCurrentThread() - before;
        }

        Assert.That(rounds.Min(), Is.Zero, $"bytes allocated per round of 100 tokens: {string.Join(", ", rounds)}");
    }

    [TestCase(Vocab, 2)]
    [TestCase(-1, 1)]
    [TestCase(int.MaxValue, 0)]
    public void Forward_TokenOutsideVocabulary_ThrowsNamingPositionValueAndVocab(int badToken, int position)
    {
        using RwkvState state = _model.CreateState();
        int[] tokens = [1, 2, 3];
        tokens[position] = badToken;

        var e = Assert.Throws<ArgumentOutOfRangeException>(() => _runner.Forward(tokens, state, new float[Vocab]));

        Assert.That(e.ParamName, Is.EqualTo("tokens"));
        Assert.That(e.ActualValue, Is.EqualTo(badToken));
        Assert.That(e.Message, Does.Contain($"position {position}").And.Contain($"{badToken}").And.Contain($"{Vocab}"));
    }

    [Test]
    public void Forward_TokenOutsideVocabulary_LeavesStateUntouched()
    {
        using RwkvState state = _model.CreateState();

        Assert.That(() => _runner.Forward([1, Vocab], state, new float[Vocab]), Throws.TypeOf<ArgumentOutOfRangeException>());

        Assert.That(state.Current.SelectMany(buffer => buffer), Is.All.Zero);
    }

    [Test]
    public void Forward_NoTokens_ThrowsArgumentException()
    {
        using RwkvState state = _model.CreateState();

        Assert.That(() => _runner.Forward([], state, new float[Vocab]),
            Throws.ArgumentException.With.Property("ParamName").EqualTo("tokens"));
    }

    [TestCase(Vocab - 1)]
    [TestCase(Vocab * 3)]
    public void Forward_WrongLogitsLength_ThrowsNamingExpectedLength(int length)
    {
        using RwkvState state = _model.CreateState();

        Assert.That(() => _runner.Forward([1, 2, 3], state, new float[length]),
            Throws.ArgumentException.With.Property("ParamName").EqualTo("logits").And.Message.Contain($"expected {Vocab}"));
    }

    [Test]
    public void ForwardAll_LogitsForLastTokenOnly_ThrowsNamingExpectedLength()
    {
        using RwkvState state = _model.CreateState();

        Assert.That(() => _runner.ForwardAll([1, 2, 3], state, new float[Vocab]),
            Throws.ArgumentException.With.Message.Contain($"expected {3 * Vocab}"));
    }

    [Test]
    public void ForwardBatch_TokenCountNotBatchTimesLength_Throws()
    {
        using RwkvState state = _model.CreateState(2);

        Assert.That(() => _runner.ForwardBatch([1, 2, 3], 2, state, new float[2 * Vocab]),
            Throws.ArgumentException.With.Property("ParamName").EqualTo("tokens"));
    }

    [Test]
    public void Forward_StateOfBatchTwo_ThrowsStateMismatch()
    {
        using RwkvState state = _model.CreateState(2);

        var e = Assert.Throws<StateMismatchException>(() => _runner.Forward([1], state, new float[Vocab]));

        Assert.That(e.Expected, Is.EqualTo("batch 1"));
        Assert.That(e.Actual, Is.EqualTo("batch 2"));
    }

    [Test]
    public void Forward_StateOfAnotherModelInstance_ThrowsStateMismatch()
    {
        using var other = RwkvModel.Load(RuntimeTestModels.Tiny7, new RwkvModelOptions { StateLocation = stateLocation });
        using RwkvState foreign = other.CreateState();

        Assert.That(() => _runner.Forward([1], foreign, new float[Vocab]), Throws.TypeOf<StateMismatchException>());
    }

    [Test]
    public void Forward_UndefinedMode_Throws()
    {
        using RwkvState state = _model.CreateState();

        Assert.That(() => _runner.Forward([1], state, new float[Vocab], (RwkvForwardMode)7),
            Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("mode"));
    }

    [Test]
    public void PrefillChunkSize_StartsFromOptions_AndRejectsZero()
    {
        using var model = RwkvModel.Load(RuntimeTestModels.Tiny7, new RwkvModelOptions { PrefillChunkSize = 7, StateLocation = stateLocation });
        using RwkvRunner runner = model.CreateRunner();

        Assert.That(runner.PrefillChunkSize, Is.EqualTo(7));
        Assert.That(() => runner.PrefillChunkSize = 0, Throws.TypeOf<ArgumentOutOfRangeException>());
    }

    [Test]
    public void Forward_AfterModelDispose_ThrowsObjectDisposed()
    {
        var model = RwkvModel.Load(RuntimeTestModels.Tiny7, new RwkvModelOptions { StateLocation = stateLocation });
        using RwkvRunner runner = model.CreateRunner();
        using RwkvState state = model.CreateState();
        runner.Forward([1], state, new float[Vocab]);

        model.Dispose();

        Assert.That(() => runner.Forward([1], state, new float[Vocab]), Throws.TypeOf<ObjectDisposedException>());
        Assert.That(() => runner.Forward([1, 2], state, new float[Vocab], RwkvForwardMode.Prefill), Throws.TypeOf<ObjectDisposedException>());
    }

    [Test]
    public void Forward_AfterStateDispose_ThrowsObjectDisposed()
    {
        RwkvState state = _model.CreateState();
        _runner.Forward([1], state, new float[Vocab]);

        state.Dispose();

        Assert.That(() => _runner.Forward([1], state, new float[Vocab]), Throws.TypeOf<ObjectDisposedException>());
    }

    [Test]
    public void Forward_AfterRunnerDispose_ThrowsObjectDisposed()
    {
        using RwkvState state = _model.CreateState();
        _runner.Dispose();

        Assert.That(() => _runner.Forward([1], state, new float[Vocab]), Throws.TypeOf<ObjectDisposedException>());
    }

    private float[] ForwardAlone(int[] tokens)
    {
        using RwkvState state = _model.CreateState();
        var logits = new float[Vocab];
        foreach (int token in tokens)
        {
            _runner.Forward([token], state, logits, RwkvForwardMode.Step);
        }
        return logits;
    }
}
