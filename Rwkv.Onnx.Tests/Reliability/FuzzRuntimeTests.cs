using System.Buffers.Binary;
using System.Text;
using Rwkv.Onnx.Exceptions;
using Rwkv.Onnx.Export;
using Rwkv.Onnx.Export.Checkpoints;
using Rwkv.Onnx.Export.RandomCheckpoints;
using Rwkv.Onnx.Tests.Fixtures;
using static Rwkv.Onnx.Tests.Fixtures.TorchZipWriter;

namespace Rwkv.Onnx.Tests.Reliability;

/// <summary>
/// Fuzzes what the runtime reads from strangers: <c>rwkv-manifest.json</c> (only <see cref="ModelContractException"/>),
/// saved <c>RWKS</c> states (only <see cref="InvalidDataException"/>, <see cref="StateMismatchException"/>,
/// <see cref="EndOfStreamException"/> or <see cref="NonFiniteValueException"/>), and RWKV-PEFT time_state <c>.pth</c> files
/// loaded with <see cref="RwkvState.FromTimeState"/> (only <see cref="CheckpointFormatException"/>, <see cref="StateMismatchException"/>
/// or <see cref="NonFiniteValueException"/>).
/// The model is a seeded random RWKV-7 (2 layers, width 32, 2 heads of 16), exported once.
/// </summary>
[TestFixture]
public sealed class FuzzRuntimeTests
{
    private string _directory = "";
    private string _modelDirectory = "";
    private RwkvModel _model = null!; // set in OneTimeSetUp

    [OneTimeSetUp]
    public void ExportModel()
    {
        _directory = Path.Combine(Path.GetTempPath(), "rwkv-onnx-fuzz", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_directory);
        string checkpoint = Path.Combine(_directory, "random-v7.bin");
        RandomCheckpoint.WriteRwkv7(checkpoint, layers: 2, embd: 32, headSize: 16, vocab: 64, ffn: 64, loraW: 8, loraA: 8, loraV: 8, loraG: 8, seed: 17);
        _modelDirectory = Path.Combine(_directory, "model");
        RwkvExporter.Export(checkpoint, _modelDirectory, new ExportOptions());
        _model = RwkvModel.Load(_modelDirectory);
    }

    [OneTimeTearDown]
    public void Delete()
    {
        _model?.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    [Test]
    public void Manifest_BytesAndJson_OnlyModelContractException()
    {
        string json = File.ReadAllText(Path.Combine(_modelDirectory, RwkvContract.ManifestFile));
        string caseDirectory = Path.Combine(_directory, "manifest-cases");
        Directory.CreateDirectory(caseDirectory);
        string path = Path.Combine(caseDirectory, RwkvContract.ManifestFile);

        IEnumerable<FuzzCase> cases = FuzzSeeds.MutateJson(json, FuzzHarness.Count(1000), 701)
            .Concat(FuzzHarness.Mutate(Encoding.UTF8.GetBytes(json), FuzzHarness.Count(500), 702));
        FuzzHarness.Run("manifest", cases, c =>
        {
            File.WriteAllBytes(path, c.Bytes);
            Touch(RwkvManifest.Load(caseDirectory));
        }, typeof(ModelContractException));
    }

    [Test]
    public void SavedState_Bytes_OnlyInvalidDataStateMismatchOrEndOfStream()
    {
        using RwkvState state = _model.CreateState(2);
        var saved = new MemoryStream();
        state.Save(saved);
        byte[] seed = saved.ToArray();
        int[] header = [0, 4, 8, 12, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 36, 40, 44];

        int index = 0;
        FuzzHarness.Run("RWKS state", FuzzHarness.Mutate(seed, FuzzHarness.Count(1500), 801, header), c =>
        {
            // Half the cases through a stream that cannot seek, which cannot be checked against its length up front.
            using Stream stream = index++ % 2 == 0 ? new MemoryStream(c.Bytes) : new ForwardOnlyStream(c.Bytes);
            using RwkvState loaded = RwkvState.Load(_model, stream);
        }, typeof(InvalidDataException), typeof(StateMismatchException), typeof(EndOfStreamException), typeof(NonFiniteValueException));
    }

    [Test]
    public void TimeStatePth_BytesAndPickle_OnlyCheckpointFormatOrStateMismatch()
    {
        var storages = new Dictionary<string, Storage>
        {
            ["0"] = new(TensorDType.Float32, [.. Enumerable.Range(0, 2 * 16 * 16).Select(i => i * 0.01f)]),
            ["1"] = new(TensorDType.BFloat16, [.. Enumerable.Range(0, 2 * 16 * 16).Select(i => i * -0.01f)]),
        };
        TensorView[] views =
        [
            TensorView.Contiguous("blocks.0.att.time_state", "0", 2, 16, 16),
            TensorView.Contiguous("blocks.1.att.time_state", "1", 2, 16, 16),
        ];
        string seedPath = Path.Combine(_directory, "time-state.pth");
        WriteStateDict(seedPath, views, storages);
        byte[] seed = File.ReadAllBytes(seedPath);
        byte[] pickle = PickleWriter.StateDict(views, storages);
        string path = Path.Combine(_directory, "time-state-case.pth");

        void Load(string file)
        {
            using RwkvCheckpoint checkpoint = RwkvCheckpoint.Open(file);
            using RwkvState state = RwkvState.FromTimeState(_model, checkpoint);
        }
        Assert.DoesNotThrow(() => Load(seedPath), "the seed must be valid");
        Type[] allowed = [typeof(CheckpointFormatException), typeof(StateMismatchException), typeof(NonFiniteValueException)];

        FuzzHarness.Run("time_state pth bytes", FuzzHarness.Mutate(seed, FuzzHarness.Count(300), 901, FuzzSeeds.ZipBoundaries(seed)), c =>
        {
            File.WriteAllBytes(path, c.Bytes);
            Load(path);
        }, allowed);
        void LoadPickle(byte[] bytes)
        {
            var entries = new List<(string, byte[])> { ("archive/data.pkl", bytes) };
            entries.AddRange(storages.Select(s => ($"archive/data/{s.Key}", Encode(s.Value))));
            WriteZip(path, entries, new ZipOptions());
            Load(path);
        }
        Assert.DoesNotThrow(() => LoadPickle(pickle), "the seed pickle must be valid");
        FuzzHarness.Run("time_state pth pickle", FuzzHarness.Mutate(pickle, FuzzHarness.Count(600), 902), c => LoadPickle(c.Bytes), allowed);
    }

    [Test]
    public void SavedState_HugeBatchWithMatchingCountsAndNoData_EndsOfStreamBeforeAllocating()
    {
        // A header that agrees with the model but declares a batch whose buffers would need gigabytes, followed by
        // nothing: the declared data is checked against the stream before the state is allocated.
        using RwkvState state = _model.CreateState(1);
        var saved = new MemoryStream();
        state.Save(saved);
        byte[] bytes = saved.ToArray();
        int batchAt = 4 + 4 + 4 + 4 + 1 + _model.Manifest.Architecture.Version.Length;
        int largest = _model.Manifest.State.Max(s => s.Shape.Aggregate(1, (p, d) => p * d));
        int batch = int.MaxValue / largest;
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(batchAt), batch);
        int at = batchAt + 8;
        for (int i = 0; i < _model.Manifest.State.Count; i++)
        {
            long count = (long)batch * _model.Manifest.State[i].Shape.Aggregate(1, (p, d) => p * d);
            BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(at), (int)count);
            at += 4 + 1 + bytes[at + 4]; // the count, then the layout string (a one-byte length, then its UTF-8)
        }
        byte[] header = bytes[..at];

        foreach (Stream stream in new Stream[] { new MemoryStream(header), new ForwardOnlyStream(header) })
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            var e = Assert.Throws<EndOfStreamException>(() => RwkvState.Load(_model, stream));
            Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.LessThan(1 << 20));
            Assert.That(e!.Message, Does.Contain("declares").And.Contain("bytes of data after its header"));
        }
    }

    [Test]
    public void SavedState_VersionStringOf2GiB_IsInvalidData()
    {
        byte[] bytes = [.. "RWKS"u8, .. BitConverter.GetBytes(RwkvState.SaveFormatVersion), .. BitConverter.GetBytes(_model.Manifest.Architecture.Layers),
            .. BitConverter.GetBytes(_model.Manifest.Architecture.Embedding), 0xFF, 0xFF, 0xFF, 0xFF, 0x07];

        var e = Assert.Throws<InvalidDataException>(() => RwkvState.Load(_model, new MemoryStream(bytes)));

        Assert.That(e!.Message, Does.Contain("architecture version of 2147483647 bytes"));
    }

    [TestCase("\"weights\": {", "\"weights\": null, \"x\": {", "weights", TestName = "Manifest_NullWeights_NamesTheField")]
    [TestCase("\"file\": \"step.onnx\"", "\"file\": \"../../../etc/step.onnx\"", "step_graph.file", TestName = "Manifest_GraphOutsideTheDirectory_NamesTheField")]
    [TestCase("\"layers\": 2", "\"layers\": -2", "architecture.layers", TestName = "Manifest_NegativeLayers_NamesTheField")]
    [TestCase("\"state\": [", "\"state\": [null, ", "state", TestName = "Manifest_NullStateTensor_NamesTheField")]
    [TestCase("\"layout\": [", "\"layout\": null, \"x\": [", "state.layout", TestName = "Manifest_NullStateLayout_NamesTheField")]
    [TestCase("\"tensor\": \"blocks.{layer}.att.time_state\"", "\"tensor\": \"blocks.0.att.time_state\"", "state.time_state.tensor", TestName = "Manifest_TimeStateWithoutLayerPlaceholder_NamesTheField")]
    [TestCase("\"activations\": {", "\"activations\": null, \"x\": {", "activations", TestName = "Manifest_NullActivations_NamesTheField")]
    [TestCase("\"tensors\": [", "\"tensors\": null, \"x\": [", "weights.tensors", TestName = "Manifest_NullWeightsTensors_NamesTheField")]
    [TestCase("\"step_floats_per_sequence\": ", "\"step_floats_per_sequence\": -", "activations.step_floats_per_sequence", TestName = "Manifest_NegativeStepActivations_NamesTheField")]
    public void Manifest_Corrupt_ModelContractExceptionNamingTheKey(string find, string replace, string key)
    {
        string json = File.ReadAllText(Path.Combine(_modelDirectory, RwkvContract.ManifestFile));
        Assert.That(json, Does.Contain(find));
        string damaged = json.Replace(find, replace, StringComparison.Ordinal);

        var e = Assert.Throws<ModelContractException>(() => RwkvManifest.FromJson(damaged, "m.json"));

        Assert.That(e!.Key, Is.EqualTo(key));
        Assert.That(e.Message, Does.Contain("Manifest 'm.json'"));
    }

    [Test]
    public void Manifest_StateShapeBeyondOneBuffer_IsRefused()
    {
        string json = File.ReadAllText(Path.Combine(_modelDirectory, RwkvContract.ManifestFile));
        // The first state tensor's shape (weights.tensors, earlier in the file, has shapes too).
        int shape = json.IndexOf("\"shape\": [", json.IndexOf("\"state\": [", StringComparison.Ordinal), StringComparison.Ordinal);
        int end = json.IndexOf(']', shape);
        string damaged = json[..shape] + "\"shape\": [2147483647, 2147483647, 2" + json[end..];

        var e = Assert.Throws<ModelContractException>(() => RwkvManifest.FromJson(damaged, "m.json"));

        Assert.That(e!.Message, Does.Contain("[2147483647, 2147483647, 2], more elements than one buffer holds"));
    }

    // Dereferences every field a loaded manifest promises, as RwkvModel and RwkvState do.
    private static void Touch(RwkvManifest m)
    {
        long total = (long)m.Architecture.Version.Length + m.Architecture.Layers + m.Architecture.LoraRanks.Count + m.WeightDType.Length;
        foreach (RwkvGraphInfo graph in new[] { m.StepGraph, m.PrefillGraph })
        {
            total += graph.File.Length + graph.Inputs.Sum(i => i.Length) + graph.Outputs.Sum(o => o.Length);
        }
        total += m.Weights.File.Length + m.Weights.Sha256.Length + m.Tokenizer.Kind.Length + m.Source.File.Length + m.Source.Sha256.Length + m.Source.Format.Length;
        foreach (RwkvStateTensorInfo s in m.State)
        {
            total += s.Slot.Length + s.Input.Length + s.Output.Length + s.DType.Length + checked(s.Shape.Aggregate(1L, (p, d) => p * d));
            total += s.Layout.Sum(a => a.Length) + (s.TimeState is { } t ? t.Tensor.Length + t.Layout.Sum(a => a.Length) : 0);
        }
        total += m.Activations.StepFloatsPerSequence + m.Activations.PrefillFloatsPerToken + m.Activations.WkvChunkLength + m.Activations.WkvChunkFloatsPerToken;
        Assert.That(total, Is.Positive);
    }

    /// <summary>A read-only stream that cannot seek and does not know its length.</summary>
    private sealed class ForwardOnlyStream(byte[] bytes) : Stream
    {
        private readonly MemoryStream _inner = new(bytes);

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, count);

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
