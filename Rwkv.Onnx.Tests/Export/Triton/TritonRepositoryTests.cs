using System.Buffers.Binary;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Rwkv.Onnx.Export;
using Rwkv.Onnx.Export.Checkpoints;
using Rwkv.Onnx.Export.RandomCheckpoints;
using Rwkv.Onnx.Export.Triton;
using Rwkv.Onnx.Tests.Fixtures;
using Rwkv.Onnx.Tests.Parity;

namespace Rwkv.Onnx.Tests.Export.Triton;

/// <summary>
/// <see cref="TritonRepository"/> without Triton (it cannot be installed here), in the two ways Triton would fail: the
/// written <c>config.pbtxt</c>, read back by an independent parser, against the served graph's inputs and outputs as
/// ONNX Runtime reports them (the checks Triton's ONNX Runtime backend makes when it loads a model); and the served
/// <c>1/model.onnx</c> driven with plain ONNX Runtime exactly as the sequence batcher drives it, against our runtime's logits.
/// </summary>
public sealed class TritonRepositoryTests
{
    private readonly ScratchRoot _scratch = new("rwkv-triton-");
    private readonly Dictionary<string, string> _exports = [];

    /// <summary>Every tiny fixture in fp32, and quantized exports (int8 with int8 compute, int4).</summary>
    public static IEnumerable<TestCaseData> Exports =>
    [
        .. FixtureParityTests.Fixtures.Select(f => new TestCaseData(f, WeightDType.Float32).SetArgDisplayNames(f.Model, "fp32")),
        new TestCaseData(FixtureParityTests.Fixtures.Single(f => f.Model.StartsWith('7')), WeightDType.Int8).SetArgDisplayNames("7v0-834K", "int8"),
        new TestCaseData(FixtureParityTests.Fixtures.Single(f => f.Model.StartsWith('4')), WeightDType.Int4).SetArgDisplayNames("4v0-660K", "int4"),
    ];

    [OneTimeSetUp]
    public void Create() => _scratch.Create();

    [OneTimeTearDown]
    public void Delete() => _scratch.Delete();

    [TestCaseSource(nameof(Exports))]
    public void Config_EveryInputOutputAndStateEntry_MatchesTheServedGraph(ParityFixture fixture, WeightDType dtype)
    {
        string export = Export(fixture, dtype);
        string model = TritonRepository.Write(export, Path.Combine(_scratch.CreateDirectory(), "repo"));
        ProtoText config = ProtoText.Parse(File.ReadAllText(Path.Combine(model, "config.pbtxt")));
        RwkvManifest manifest = RwkvManifest.Load(export);
        using var session = new InferenceSession(Path.Combine(model, "1", "model.onnx"));

        ProtoText batching = config.Message("sequence_batching");
        IReadOnlyList<ProtoText> states = batching.Messages("state");
        IReadOnlyList<ProtoText> inputs = config.Messages("input"), outputs = config.Messages("output");
        Assert.Multiple(() =>
        {
            Assert.That(config.Scalar("name"), Is.EqualTo(Path.GetFileName(model)));
            Assert.That(config.Scalar("backend"), Is.EqualTo("onnxruntime"));
            Assert.That(int.Parse(config.Scalar("max_batch_size"), System.Globalization.CultureInfo.InvariantCulture), Is.EqualTo(TritonRepositoryOptions.DefaultMaxBatchSize));
            Assert.That(batching.Has("oldest"), "the oldest strategy");
            Assert.That(batching.Has("control_input"), Is.False, "the graph reads no START/END/READY/CORRID");
            // Triton's ONNX Runtime backend: the model's inputs are exactly the config's inputs plus the state inputs.
            Assert.That(inputs.Select(i => i.Scalar("name")).Concat(states.Select(s => s.Scalar("input_name"))), Is.EquivalentTo(session.InputNames));
            Assert.That(outputs.Select(o => o.Scalar("name")).Concat(states.Select(s => s.Scalar("output_name"))), Is.EquivalentTo(session.OutputNames));
            Assert.That(states.Select(s => (s.Scalar("input_name"), s.Scalar("output_name"))),
                Is.EqualTo(manifest.State.Select(s => (s.Input, s.Output))), "one entry per past/present pair, in manifest order");
        });
        foreach (ProtoText tensor in inputs)
        {
            CheckBatchedTensor(tensor, session.InputMetadata[tensor.Scalar("name")]);
        }
        foreach (ProtoText tensor in outputs)
        {
            CheckBatchedTensor(tensor, session.OutputMetadata[tensor.Scalar("name")]);
        }
        foreach ((ProtoText state, RwkvStateTensorInfo info) in states.Zip(manifest.State))
        {
            NodeMetadata past = session.InputMetadata[state.Scalar("input_name")], present = session.OutputMetadata[state.Scalar("output_name")];
            long[] dims = state.Int64s("dims");
            ProtoText initial = state.Message("initial_state");
            Assert.Multiple(() =>
            {
                Assert.That(state.Scalar("data_type"), Is.EqualTo(TritonType(past.ElementDataType)), state.Scalar("input_name"));
                Assert.That(state.Scalar("data_type"), Is.EqualTo(TritonType(present.ElementDataType)), state.Scalar("output_name"));
                Assert.That(past.Dimensions, Is.EqualTo(new[] { -1 }.Concat(dims.Select(d => (int)d))), "the first dimension is the batch Triton owns");
                Assert.That(present.Dimensions, Is.EqualTo(past.Dimensions));
                Assert.That(initial.Scalar("data_type"), Is.EqualTo(state.Scalar("data_type")));
                Assert.That(initial.Int64s("dims"), Is.EqualTo(dims));
            });
            float[] start = InitialValues(model, state);
            Assert.That(start, Has.Length.EqualTo(dims.Aggregate(1L, (n, d) => n * d)));
            Assert.That(start, Is.All.EqualTo(info.Initial), $"{info.Input} starts at the manifest's initial value");
            Assert.That(initial.Has("zero_data"), Is.EqualTo(info.Initial == 0), $"{info.Input}: zero_data exactly when it starts at zero");
        }
    }

    /// <summary>
    /// Three sequences, started at different steps, one pausing a step, each run as Triton's sequence batcher runs them:
    /// the state held outside the graph per correlation id and set from <c>initial_state</c> on the first request, the
    /// ready requests of each step stacked into one batch. Every position's logits are our runtime's for that sequence alone.
    /// </summary>
    [TestCaseSource(nameof(Exports))]
    public void SequenceBatcher_InterleavedSequences_GetOurLogitsAtEveryPosition(ParityFixture fixture, WeightDType dtype)
    {
        string export = Export(fixture, dtype);
        string model = TritonRepository.Write(export, Path.Combine(_scratch.CreateDirectory(), "repo"));
        // One request per run: only the state handling differs from our runtime, so the logits are the same.
        CheckAgainstRuntime(export, model, zeroStart: false, maxBatch: 1, tolerance: 1e-5f);
        // Batched runs: a row's arithmetic then goes through ONNX Runtime's many-row kernels, which round differently
        // (measured max |Δ| 2.2e-5 fp32 on 6v0, whose others are exact; 4.9e-3 for MatMulNBits with int8 activations).
        CheckAgainstRuntime(export, model, zeroStart: false, maxBatch: TritonRepositoryOptions.DefaultMaxBatchSize,
            tolerance: dtype == WeightDType.Float32 ? 5e-5f : 0.02f);
    }

    /// <summary>
    /// RWKV-4's pp (running maximum exponent) must start at −1e30: with a bonus u = −200 the first token's weight is
    /// exp(u + k − max(pp, u + k)), 0 in float32 from pp = 0, and the WKV 0/0. The repository's initial-state files give
    /// our logits; the same run from zeros (Triton's start without them) does not.
    /// </summary>
    [Test]
    public void SequenceBatcher_Rwkv4_NeedsThePpInitialStateFile()
    {
        var written = new List<CanonicalTensor>();
        RandomCheckpoint.WriteRwkv4(Path.Combine(_scratch.Path, "base.bin"), layers: 2, embd: 64, vocab: 256, ffn: 128, seed: 41, written: written);
        string checkpoint = Path.Combine(_scratch.Path, "large-negative-bonus.safetensors");
        SafetensorsWriter.Write(checkpoint, written.Select(t => new SafetensorsWriter.Tensor(t.Name, TensorDType.Float32, t.Shape,
            t.Name.EndsWith(".att.time_first", StringComparison.Ordinal) ? Array.ConvertAll(t.Data, _ => -200f) : t.Data)));
        string export = Path.Combine(_scratch.Path, "rwkv4-bonus");
        RwkvExporter.Export(checkpoint, export, new ExportOptions());
        string model = TritonRepository.Write(export, Path.Combine(_scratch.CreateDirectory(), "repo"));

        Assert.That(Directory.GetFiles(Path.Combine(model, "initial_state")).Select(Path.GetFileName),
            Is.EquivalentTo(new[] { "past_pp.0.bin", "past_pp.1.bin" }));
        CheckAgainstRuntime(export, model, zeroStart: false, maxBatch: 3, tolerance: 1e-5f);
        Assert.That(() => CheckAgainstRuntime(export, model, zeroStart: true, maxBatch: 3, tolerance: 1e-5f), Throws.InstanceOf<AssertionException>(),
            "from zeros the logits differ");
    }

    private static readonly (int Id, int StartStep, int[] Tokens, int PausedStep)[] s_sequences =
    [
        (11, 0, [72, 101, 108, 108, 111, 44, 32, 119], -1),
        (12, 2, [34, 105, 110, 32, 116], 4),
        (13, 1, [200, 3, 17, 99, 250, 0], -1),
    ];

    /// <summary>
    /// Runs three interleaved sequences through the served graph as the sequence batcher would, at most
    /// <paramref name="maxBatch"/> requests per run, and compares each with our runtime's logits for it alone, started
    /// from <paramref name="start"/> (default: the model's fresh state).
    /// </summary>
    internal static void CheckAgainstRuntime(string export, string model, bool zeroStart, int maxBatch, float tolerance,
        Func<RwkvModel, RwkvState>? start = null)
    {
        ProtoText config = ProtoText.Parse(File.ReadAllText(Path.Combine(model, "config.pbtxt")));
        IReadOnlyList<ProtoText> states = config.Message("sequence_batching").Messages("state");
        using var session = new InferenceSession(Path.Combine(model, "1", "model.onnx")); // the backend's default session
        int vocab = session.OutputMetadata["logits"].Dimensions[1];

        var held = new Dictionary<int, Dictionary<string, float[]>>();   // correlation id -> state input name -> one row
        var logits = s_sequences.ToDictionary(s => s.Id, _ => new List<float[]>());
        var fed = s_sequences.ToDictionary(s => s.Id, _ => 0);
        for (int step = 0; fed.Any(f => f.Value < s_sequences.Single(s => s.Id == f.Key).Tokens.Length); step++)
        {
            var batch = s_sequences.Where(s => s.StartStep <= step && s.PausedStep != step && fed[s.Id] < s.Tokens.Length).ToList();
            int first = step % batch.Count; // rotate who goes first, so that with a small maxBatch the sequences still interleave
            batch = [.. batch.Skip(first).Concat(batch.Take(first)).Take(maxBatch)]; // the others wait for the next run
            if (batch.Count == 0)
            {
                continue;
            }
            foreach (var sequence in batch.Where(s => fed[s.Id] == 0))
            {
                held[sequence.Id] = states.ToDictionary(s => s.Scalar("input_name"),   // sequence_start: the initial state
                    s => zeroStart ? new float[s.Int64s("dims").Aggregate(1, (n, d) => n * (int)d)] : InitialValues(model, s));
            }
            var inputs = new List<NamedOnnxValue>
            {
                NamedOnnxValue.CreateFromTensor("tokens", new DenseTensor<long>(batch.Select(s => (long)s.Tokens[fed[s.Id]]).ToArray(), [batch.Count])),
            };
            foreach (ProtoText state in states)
            {
                string name = state.Scalar("input_name");
                int[] shape = [batch.Count, .. state.Int64s("dims").Select(d => (int)d)];
                inputs.Add(NamedOnnxValue.CreateFromTensor(name, new DenseTensor<float>(batch.SelectMany(s => held[s.Id][name]).ToArray(), shape)));
            }
            using IDisposableReadOnlyCollection<DisposableNamedOnnxValue> results = session.Run(inputs);
            float[] batchLogits = results.Single(r => r.Name == "logits").AsTensor<float>().ToArray();
            for (int row = 0; row < batch.Count; row++)
            {
                logits[batch[row].Id].Add(batchLogits.AsSpan(row * vocab, vocab).ToArray());
            }
            foreach (ProtoText state in states)   // each present becomes the sequence's next past
            {
                float[] present = results.Single(r => r.Name == state.Scalar("output_name")).AsTensor<float>().ToArray();
                int rowLength = present.Length / batch.Count;
                for (int row = 0; row < batch.Count; row++)
                {
                    held[batch[row].Id][state.Scalar("input_name")] = present.AsSpan(row * rowLength, rowLength).ToArray();
                }
            }
            batch.ForEach(s => fed[s.Id]++);
        }

        using RwkvModel runtime = RwkvModel.Load(export);
        using RwkvRunner runner = runtime.CreateRunner();
        foreach (var sequence in s_sequences)
        {
            using RwkvState state = start is null ? runtime.CreateState() : start(runtime);
            float[] expected = new float[sequence.Tokens.Length * vocab];
            runner.ForwardAll(sequence.Tokens, state, expected, RwkvForwardMode.Step);
            for (int position = 0; position < sequence.Tokens.Length; position++)
            {
                Assert.That(logits[sequence.Id][position], Is.EqualTo(expected.AsSpan(position * vocab, vocab).ToArray()).Within(tolerance),
                    $"sequence {sequence.Id}, logits after token {position}");
            }
        }
    }

    // Triton's ONNX Runtime backend's check: the config's dims (or its reshape) after a -1 batch are the graph's shape.
    private static void CheckBatchedTensor(ProtoText tensor, NodeMetadata graph)
    {
        long[] dims = tensor.Has("reshape") ? tensor.Message("reshape").Int64s("shape") : tensor.Int64s("dims");
        Assert.Multiple(() =>
        {
            Assert.That(tensor.Scalar("data_type"), Is.EqualTo(TritonType(graph.ElementDataType)), tensor.Scalar("name"));
            Assert.That(graph.Dimensions, Is.EqualTo(new[] { -1 }.Concat(dims.Select(d => (int)d))), tensor.Scalar("name"));
            Assert.That(tensor.Int64s("dims"), Is.Not.Empty, "Triton needs a dimension after the batch");
        });
    }

    // A state's start as the sequence batcher makes it: zeros for zero_data, else the data file's float32 values.
    private static float[] InitialValues(string model, ProtoText state)
    {
        ProtoText initial = state.Message("initial_state");
        int count = initial.Int64s("dims").Aggregate(1, (n, d) => n * (int)d);
        if (initial.Has("zero_data"))
        {
            Assert.That(initial.Scalar("zero_data"), Is.EqualTo("true"));
            return new float[count];
        }
        byte[] bytes = File.ReadAllBytes(Path.Combine(model, "initial_state", initial.Scalar("data_file")));
        Assert.That(bytes, Has.Length.EqualTo(count * sizeof(float)), "the file holds exactly the state's bytes");
        return [.. Enumerable.Range(0, count).Select(i => BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(i * sizeof(float))))];
    }

    // model_config.proto's names for ONNX Runtime's element types.
    private static string TritonType(TensorElementType type) => type switch
    {
        TensorElementType.Float => "TYPE_FP32",
        TensorElementType.Int64 => "TYPE_INT64",
        TensorElementType.Float16 => "TYPE_FP16",
        _ => throw new AssertionException($"unexpected element type {type}"),
    };

    private string Export(ParityFixture fixture, WeightDType dtype)
    {
        string key = $"{fixture.Model}-{dtype}";
        if (!_exports.TryGetValue(key, out string? export))
        {
            export = Path.Combine(_scratch.Path, key);
            RwkvExporter.Export(SharedFixtures.RwkvCppModel(fixture.Model, "FP32"), export,
                new ExportOptions { WeightDType = dtype, GroupNormEpsilon = fixture.GroupNormEpsilon });
            _exports[key] = export;
        }
        return export;
    }
}
