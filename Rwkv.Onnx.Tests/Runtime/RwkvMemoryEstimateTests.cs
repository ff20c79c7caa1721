using Rwkv.Onnx.Exceptions;
using Rwkv.Onnx.Generation;
using Rwkv.Onnx.Sampling;
using Rwkv.Onnx.Tokenization;

namespace Rwkv.Onnx.Tests.Runtime;

/// <summary>
/// The memory estimate of the tiny RWKV-7 model (12 layers, width 64, one head of 64, vocab 256, F 256), and the runtime
/// refusing a state, a prefill, a decode step or a batch sequence that would not fit, before allocating or running it.
/// </summary>
[TestFixture]
public sealed class RwkvMemoryEstimateTests
{
    private const long MiB = 1L << 20;

    // Per layer: att_shift [64], wkv [1, 64, 64], ffn_shift [64]; float32; two buffer sets.
    private const long StateBytesPerSequence = 2L * 12 * (64 + 64 * 64 + 64) * sizeof(float);

    private RwkvModel _model = null!; // shared; tests whose check depends on earlier runs (the arena's high-water mark) load their own

    [OneTimeSetUp]
    public void LoadModel() => _model = RwkvModel.Load(RuntimeTestModels.Tiny7);

    [OneTimeTearDown]
    public void DisposeModel() => _model.Dispose();

    [Test]
    public void ForState_IsTwoSetsOfEveryStateTensor()
    {
        RwkvMemoryEstimate estimate = RwkvMemoryEstimate.ForState(_model.Manifest, 1000);

        Assert.That(estimate.StateBytes, Is.EqualTo(1000 * StateBytesPerSequence));
        Assert.That(estimate.TotalBytes, Is.EqualTo(estimate.StateBytes));
    }

    [Test]
    public void ForGeneration_IsStatePlusStepPlusOnePrefillChunk()
    {
        RwkvMemoryEstimate estimate = RwkvMemoryEstimate.ForGeneration(_model.Manifest, 8, promptTokens: 1000, prefillChunkSize: 100);

        RwkvMemoryEstimate parts = RwkvMemoryEstimate.ForState(_model.Manifest, 8)
            + RwkvMemoryEstimate.ForStep(_model.Manifest, 8, countActivations: true)
            + RwkvMemoryEstimate.ForPrefill(_model.Manifest, 8, 100, allLogits: false, countActivations: true);
        Assert.That(estimate, Is.EqualTo(parts));
        Assert.That(estimate.StateBytes, Is.EqualTo(8 * StateBytesPerSequence));
        // Logits of the step binding, of the prefill graph's head and our copy: three rows of 256 floats per sequence.
        Assert.That(estimate.BufferBytes, Is.GreaterThanOrEqualTo(3L * 8 * 256 * sizeof(float)));
        Assert.That(estimate.ActivationBytes, Is.Positive);
    }

    [Test]
    public void Export_WritesTheFittedActivationSizes()
    {
        // RWKV-7, C 64, F 256, H 1, N 64, chunks of L 32. Step: 32·C + 2·F + 2 copies of the largest state (wkv, 64·64).
        // Prefill: 70·C for RWKV-7's time mix + 3·F. Chunk: 30·C + 7 H·N·N matrices per L tokens, and no pair decays.
        RwkvActivationInfo sizes = _model.Manifest.Activations;

        Assert.That(sizes.StepFloatsPerSequence, Is.EqualTo((32 * 64) + (2 * 256) + (2 * 64 * 64)));
        Assert.That(sizes.PrefillFloatsPerToken, Is.EqualTo((70 * 64) + (3 * 256)));
        Assert.That(sizes.WkvChunkLength, Is.EqualTo(32));
        Assert.That(sizes.WkvChunkFloatsPerToken, Is.EqualTo((30 * 64) + (7 * 64 * 64 / 32)));
    }

    [Test]
    public void ForStepAndForPrefill_ComputeFromTheManifestsActivationSizes()
    {
        RwkvManifest chunked = _model.Manifest with
        {
            Activations = new RwkvActivationInfo { StepFloatsPerSequence = 1000, PrefillFloatsPerToken = 100, WkvChunkLength = 32, WkvChunkFloatsPerToken = 10 },
        };
        RwkvManifest scan = chunked with { Activations = chunked.Activations with { WkvChunkLength = 0, WkvChunkFloatsPerToken = 0 } };

        Assert.Multiple(() =>
        {
            Assert.That(RwkvMemoryEstimate.ForStep(chunked, 3, countActivations: true).ActivationBytes, Is.EqualTo(3 * 1000 * sizeof(float)));
            // 33 tokens of 100 floats, and inside the recurrence 33 padded to 64 tokens of 10 floats; two sequences.
            Assert.That(RwkvMemoryEstimate.ForPrefill(chunked, 2, 33, false, true).ActivationBytes, Is.EqualTo(2 * ((33 * 100) + (64 * 10)) * sizeof(float)));
            Assert.That(RwkvMemoryEstimate.ForPrefill(scan, 2, 33, false, true).ActivationBytes, Is.EqualTo(2 * 33 * 100 * sizeof(float)));
        });
    }

    [Test]
    public void ForPrefill_LongerChunksAndMoreSequences_NeedMore()
    {
        long Activations(int batch, int tokens) => RwkvMemoryEstimate.ForPrefill(_model.Manifest, batch, tokens, false, true).ActivationBytes;

        Assert.That(Activations(2, 256), Is.EqualTo(2 * Activations(1, 256)));
        Assert.That(Activations(1, 256), Is.GreaterThan(Activations(1, 128)));
        // 33 tokens are padded to two WKV chunks of 32 inside the chunked recurrence.
        Assert.That(Activations(1, 33) - Activations(1, 32), Is.GreaterThan(Activations(1, 32) - Activations(1, 31)));
    }

    [Test]
    public void ForGeneration_OnAGpuProvider_CountsNoActivations()
    {
        RwkvMemoryEstimate estimate = RwkvMemoryEstimate.ForGeneration(_model.Manifest, 4, 64, provider: RwkvExecutionProvider.Cuda);

        Assert.That(estimate.ActivationBytes, Is.Zero);
        Assert.That(estimate.StateBytes, Is.EqualTo(4 * StateBytesPerSequence));
    }

    [Test]
    public void TotalBytes_BeyondALong_Saturates()
    {
        var estimate = new RwkvMemoryEstimate { StateBytes = long.MaxValue, ActivationBytes = long.MaxValue };

        Assert.That(estimate.TotalBytes, Is.EqualTo(long.MaxValue));
        Assert.That(RwkvMemoryEstimate.ForState(_model.Manifest, int.MaxValue).StateBytes, Is.EqualTo((long)int.MaxValue * StateBytesPerSequence));
    }

    [Test]
    public void CreateState_BeyondAvailableMemory_ThrowsWithTheEstimateAndTheLimit()
    {
        using IDisposable _ = AvailableMemory.Simulate(100 * MiB);

        var e = Assert.Throws<MemoryLimitExceededException>(() => _model.CreateState(1000));

        Assert.That(e!.EstimatedBytes, Is.EqualTo(1000 * StateBytesPerSequence));
        Assert.That(e.AvailableBytes, Is.EqualTo(100 * MiB));
        Assert.That(e.Message, Does.StartWith("A state of 1000 sequences needs an estimated 386.7 MiB of memory").And.EndWith("100.0 MiB is available (simulated)."));
    }

    [Test]
    public void CreateState_WithinAvailableMemory_Succeeds()
    {
        using IDisposable _ = AvailableMemory.Simulate(500 * MiB);

        using RwkvState state = _model.CreateState(1000);

        Assert.That(state.BatchSize, Is.EqualTo(1000));
    }

    [Test]
    public void ForwardBatch_PrefillBeyondAvailableMemory_ThrowsBeforeRunning()
    {
        const int Batch = 64, Tokens = 256;
        using RwkvModel model = RwkvModel.Load(RuntimeTestModels.Tiny7);
        using RwkvState state = model.CreateState(Batch);
        using RwkvRunner runner = model.CreateRunner();
        float[][] before = [.. state.Current.Select(b => b.ToArray())];
        long needed = RwkvMemoryEstimate.ForPrefill(_model.Manifest, Batch, Tokens, false, true).TotalBytes;
        Assume.That(needed, Is.GreaterThan(2 * AvailableMemory.UncheckedBytes));
        using IDisposable _ = AvailableMemory.Simulate(needed / 2);

        var e = Assert.Throws<MemoryLimitExceededException>(() =>
            runner.ForwardBatch(new int[Batch * Tokens], Tokens, state, new float[Batch * 256], RwkvForwardMode.Prefill));

        Assert.That(e!.EstimatedBytes, Is.EqualTo(needed));
        Assert.That(e.Message, Does.StartWith("A prefill of 64 sequences in chunks of 256 tokens needs an estimated"));
        Assert.That(state.Current, Is.EqualTo(before), "nothing ran");
    }

    [Test]
    public void ForwardBatch_RepeatedPrefill_CountsTheActivationsOnlyOnce()
    {
        // ONNX Runtime's arena keeps the first run's activations; the second run of the same size needs only its buffers.
        const int Batch = 16, Tokens = 256;
        using RwkvModel model = RwkvModel.Load(RuntimeTestModels.Tiny7);
        using RwkvState state = model.CreateState(Batch);
        using RwkvRunner runner = model.CreateRunner();
        RwkvMemoryEstimate estimate = RwkvMemoryEstimate.ForPrefill(_model.Manifest, Batch, Tokens, false, true);
        Assume.That(estimate.ActivationBytes, Is.GreaterThan(AvailableMemory.UncheckedBytes));
        Assume.That(estimate.BufferBytes, Is.LessThan(AvailableMemory.UncheckedBytes));
        runner.ForwardBatch(new int[Batch * Tokens], Tokens, state, new float[Batch * 256], RwkvForwardMode.Prefill);
        using IDisposable _ = AvailableMemory.Simulate(estimate.TotalBytes / 2);

        Assert.DoesNotThrow(() => runner.ForwardBatch(new int[Batch * Tokens], Tokens, state, new float[Batch * 256], RwkvForwardMode.Prefill));
    }

    [Test]
    public void ForwardBatch_FirstStepBeyondAvailableMemory_ThrowsBeforeRunning()
    {
        const int Batch = 512; // no other test here steps the shared model, so its step arena is empty
        using RwkvState state = _model.CreateState(Batch);
        using RwkvRunner runner = _model.CreateRunner();
        long needed = RwkvMemoryEstimate.ForStep(_model.Manifest, Batch, true).TotalBytes;
        Assume.That(needed, Is.GreaterThan(AvailableMemory.UncheckedBytes));
        using IDisposable _ = AvailableMemory.Simulate(needed - 1);

        var e = Assert.Throws<MemoryLimitExceededException>(() =>
            runner.ForwardBatch(new int[Batch], 1, state, new float[Batch * 256], RwkvForwardMode.Step));

        Assert.That(e!.Message, Does.StartWith("A decode step of 512 sequences needs an estimated"));
        Assert.That(state.Current.SelectMany(b => b), Is.All.Zero, "nothing ran");
    }

    [Test]
    public void BatchGeneratorAdd_BatchBeyondAvailableMemory_ThrowsAndAddsNothing()
    {
        using var batch = new BatchGenerator(_model, ByteTokenizer.Create());
        using IDisposable _ = AvailableMemory.Simulate(24 * MiB);

        MemoryLimitExceededException? refused = null;
        for (int i = 0; i < 200 && refused is null; i++)
        {
            try
            {
                batch.Add("hi", new GenerationOptions { MaxTokens = 1, Sampling = SamplingSettings.Greedy });
            }
            catch (MemoryLimitExceededException e)
            {
                refused = e;
            }
        }

        Assert.That(refused, Is.Not.Null, "a batch of 200 sequences of this model needs more than 24 MiB (about 80 MiB of state)");
        int rows = batch.Active.Count + 1;
        Assert.That(refused!.Message, Does.StartWith($"A batch of {rows} sequences needs an estimated"));
        Assert.That(refused.EstimatedBytes, Is.GreaterThan(24 * MiB).And.GreaterThanOrEqualTo(rows * StateBytesPerSequence));
        Assert.That(refused.AvailableBytes, Is.EqualTo(24 * MiB));
        Assert.That((rows - 1) * StateBytesPerSequence, Is.LessThanOrEqualTo(24 * MiB), "the batches that fit were accepted");
    }
}
