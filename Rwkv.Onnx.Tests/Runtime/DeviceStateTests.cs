using Rwkv.Onnx.Exceptions;

namespace Rwkv.Onnx.Tests.Runtime;

/// <summary>
/// <see cref="RwkvStateLocation.Device"/> on the CPU provider: the state lives in ONNX Runtime-allocated tensors
/// and moves to the host only through the state-copy graph, exactly as on CUDA. The runner, state and row tests
/// also run in this mode; these tests check what is particular to it: that a decode loop copies nothing, that
/// results equal the host path bit for bit, and that host-side changes reach the next run.
/// </summary>
public class DeviceStateTests
{
    private const int Vocab = 256;
    private static readonly int[] s_text = [.. "Device-resident state, step by step."u8.ToArray().Select(b => (int)b)];

    private RwkvModel _host = null!; // set in OneTimeSetUp
    private RwkvModel _device = null!;

    [OneTimeSetUp]
    public void LoadModels()
    {
        _host = RwkvModel.Load(RuntimeTestModels.Tiny7, new RwkvModelOptions { StateLocation = RwkvStateLocation.Host });
        _device = RwkvModel.Load(RuntimeTestModels.Tiny7, new RwkvModelOptions { StateLocation = RwkvStateLocation.Device });
    }

    [OneTimeTearDown]
    public void DisposeModels()
    {
        _host.Dispose();
        _device.Dispose();
    }

    [Test]
    public void StateLocation_Auto_IsHostOnTheCpu()
    {
        using var model = RwkvModel.Load(RuntimeTestModels.Tiny7);

        Assert.That(model.StateOnDevice, Is.False);
        Assert.That(_device.StateOnDevice, Is.True);
    }

    [Test]
    public void StateLocation_Undefined_IsRejected() =>
        Assert.That(() => new RwkvModelOptions { StateLocation = (RwkvStateLocation)9 },
            Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("StateLocation"));

    [Test]
    public void DecodeLoop_CopiesNoStateToTheHost()
    {
        using RwkvRunner runner = _device.CreateRunner();
        using RwkvState state = _device.CreateState();
        var logits = new float[Vocab];
        int before = _device.StateCopyCount;

        runner.Forward(s_text.AsSpan(0, 10), state, logits, RwkvForwardMode.Prefill);
        foreach (int token in s_text.AsSpan(10))
        {
            runner.Forward([token], state, logits);
        }

        Assert.That(_device.StateCopyCount - before, Is.Zero);
    }

    [Test]
    public void MixedPrefillAndSteps_EqualTheHostPath_BitForBit()
    {
        float[][] host = Trajectory(_host);
        float[][] device = Trajectory(_device);

        Assert.That(device, Is.EqualTo(host));
    }

    [Test]
    public void Save_CopiesTheDeviceStateOnce_AndResumesLikeTheHostPath()
    {
        using RwkvRunner runner = _device.CreateRunner();
        using RwkvState state = _device.CreateState();
        runner.Forward(s_text.AsSpan(0, 20), state, new float[Vocab]);
        int before = _device.StateCopyCount;

        using var first = new MemoryStream();
        state.Save(first);
        using var second = new MemoryStream();
        state.Save(second);

        Assert.That(_device.StateCopyCount - before, Is.EqualTo(1), "the second save reuses the host copy");
        Assert.That(second.ToArray(), Is.EqualTo(first.ToArray()));
        first.Position = 0;
        using RwkvState loaded = RwkvState.Load(_host, first);
        using RwkvRunner hostRunner = _host.CreateRunner();
        var expected = new float[Vocab];
        var actual = new float[Vocab];
        hostRunner.Forward(s_text.AsSpan(20), loaded, expected, RwkvForwardMode.Step);
        runner.Forward(s_text.AsSpan(20), state, actual, RwkvForwardMode.Step);
        Assert.That(actual, Is.EqualTo(expected));
    }

    [Test]
    public void Reset_AfterDeviceRuns_IsReadByTheNextRun()
    {
        using RwkvRunner runner = _device.CreateRunner();
        using RwkvState state = _device.CreateState();
        var logits = new float[Vocab];
        runner.Forward(s_text.AsSpan(0, 5), state, logits, RwkvForwardMode.Step);

        state.Reset();
        runner.Forward(RuntimeTestModels.Prompt, state, logits, RwkvForwardMode.Step);

        Assert.That(logits, Is.EqualTo(RuntimeTestModels.Tiny7ExpectedLogits).Within(1e-5f));
    }

    [Test]
    public void CopyRowFrom_AfterDeviceRuns_KeepsTheOtherRowsDeviceValues()
    {
        // Batch of two on both paths; row 1 is replaced by a fresh state halfway through.
        float[] host = RowTrajectory(_host);
        float[] device = RowTrajectory(_device);

        Assert.That(device, Is.EqualTo(host));
    }

    [Test]
    public void CudaWithDeviceState_WithoutTheGpuPackage_FailsAtSessionCreation()
    {
        var options = new RwkvModelOptions { ExecutionProvider = RwkvExecutionProvider.Cuda, StateLocation = RwkvStateLocation.Device };

        Assert.That(() => RwkvModel.Load(RuntimeTestModels.Tiny7, options),
            Throws.TypeOf<ExecutionProviderUnavailableException>().With.Message.Contains("Microsoft.ML.OnnxRuntime.Gpu"));
    }

    [Test]
    public void Dispose_ModelFirst_ThenRunnerAndState_ReleasesDeviceMemoryAfterTheirBindings()
    {
        var model = RwkvModel.Load(RuntimeTestModels.Tiny7, new RwkvModelOptions { StateLocation = RwkvStateLocation.Device });
        RwkvRunner runner = model.CreateRunner();
        RwkvState state = model.CreateState();
        RwkvState other = model.CreateState(2);
        runner.Forward([1, 2], state, new float[Vocab], RwkvForwardMode.Step);

        model.Dispose();

        Assert.That(() => model.CreateState(), Throws.TypeOf<ObjectDisposedException>());
        Assert.That(state.Clone, Throws.TypeOf<ObjectDisposedException>());
        Assert.That(other.Dispose, Throws.Nothing);
        Assert.That(state.Dispose, Throws.Nothing);
        Assert.That(runner.Dispose, Throws.Nothing);
    }

    // Prefill 7, step 5, clone and step the clone 3, prefill 9 on the original, then step the rest: every logits row.
    private static float[][] Trajectory(RwkvModel model)
    {
        using RwkvRunner runner = model.CreateRunner();
        using RwkvState state = model.CreateState();
        var rows = new List<float[]>();
        float[] Run(ReadOnlySpan<int> tokens, RwkvState target, RwkvForwardMode mode)
        {
            var logits = new float[Vocab];
            runner.Forward(tokens, target, logits, mode);
            return logits;
        }

        rows.Add(Run(s_text.AsSpan(0, 7), state, RwkvForwardMode.Prefill));
        for (int i = 7; i < 12; i++)
        {
            rows.Add(Run(s_text.AsSpan(i, 1), state, RwkvForwardMode.Step));
        }
        using (RwkvState clone = state.Clone())
        {
            for (int i = 12; i < 15; i++)
            {
                rows.Add(Run(s_text.AsSpan(i, 1), clone, RwkvForwardMode.Step));
            }
            state.CopyFrom(clone);
        }
        rows.Add(Run(s_text.AsSpan(15, 9), state, RwkvForwardMode.Prefill));
        for (int i = 24; i < s_text.Length; i++)
        {
            rows.Add(Run(s_text.AsSpan(i, 1), state, RwkvForwardMode.Step));
        }
        using RwkvState copy = model.CreateState();
        copy.CopyFrom(state);
        rows.Add(Run(s_text.AsSpan(0, 3), copy, RwkvForwardMode.Prefill));
        return [.. rows];
    }

    private static float[] RowTrajectory(RwkvModel model)
    {
        using RwkvRunner runner = model.CreateRunner();
        using RwkvState batch = model.CreateState(2);
        using RwkvState fresh = model.CreateState();
        var logits = new float[2 * Vocab];
        var all = new List<float>();
        for (int i = 0; i < 12; i++)
        {
            if (i == 6)
            {
                batch.CopyRowFrom(fresh, 0, 1);
            }
            runner.ForwardBatch([s_text[i], s_text[^(i + 1)]], 1, batch, logits);
            all.AddRange(logits);
        }
        return [.. all];
    }
}
