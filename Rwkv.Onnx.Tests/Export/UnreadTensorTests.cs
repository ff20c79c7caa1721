using Rwkv.Onnx.Export;
using Rwkv.Onnx.Export.Checkpoints;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Export;

/// <summary>
/// Issue 21, item 4: a checkpoint tensor that the detected architecture does not read fails the export, naming the file
/// and the tensor, for every version and reader; the export writes nothing. Each case is a fixture plus one extra tensor.
/// </summary>
[TestFixture]
public sealed class UnreadTensorTests
{
    private const string Extra = "blocks.1.att.extra_gate";
    private readonly ScratchRoot _scratch = new("rwkv-unread-tensors-");

    [OneTimeSetUp]
    public void CreateScratch() => _scratch.Create();

    [OneTimeTearDown]
    public void DeleteScratch() => _scratch.Delete();

    public static readonly string[] Models = ["4v0-660K", "5v1-730K", "5v2-730K", "6v0-1m", "7v0-834K"];

    [TestCaseSource(nameof(Models))]
    public void Export_SafetensorsWithOneExtraTensor_FailsNamingIt(string model)
    {
        // The .pth fixture's tensors, as they are, plus one: the same model in another reader.
        string path = Path.Combine(_scratch.CreateDirectory(), $"{model}-extra.safetensors");
        using (RwkvCheckpoint pth = RwkvCheckpoint.Open(SharedFixtures.Pth(model, "fp32")))
        {
            SafetensorsWriter.Write(path, pth.Tensors.Values
                .Select(t => new SafetensorsWriter.Tensor(t.Name, t.DType, [.. t.Shape], t.ReadFloat32()))
                .Append(new SafetensorsWriter.Tensor(Extra, TensorDType.Float32, [4], [1, 2, 3, 4])));
        }
        AssertRefused(path, Extra);
    }

    [TestCaseSource(nameof(Models))]
    public void Export_RwkvCppWithOneExtraRecord_FailsNamingIt(string model)
    {
        // rwkv.cpp records run to the end of the file, so one appended record is one more tensor.
        string path = Path.Combine(_scratch.CreateDirectory(), $"{model}-extra.bin");
        File.Copy(SharedFixtures.RwkvCppModel(model, "FP32"), path);
        using (var record = new MemoryStream())
        {
            RwkvCppWriter.Write(record, 256, 64, 1, TensorDType.Float32, [new RwkvCppWriter.Tensor(Extra, [4], [1, 2, 3, 4])]);
            using FileStream file = new(path, FileMode.Append);
            file.Write(record.ToArray().AsSpan(RwkvCppWriter.HeaderSize));
        }
        AssertRefused(path, Extra);
    }

    [Test]
    public void Export_HuggingFaceRwkv4WithOneExtraTensor_FailsNamingIt()
    {
        string directory = _scratch.CreateDirectory();
        string fixture = Path.Combine(SharedFixtures.FixturesDirectory, "hf", "rwkv-4-tiny-660K");
        File.Copy(Path.Combine(fixture, "config.json"), Path.Combine(directory, "config.json"));
        using (var raw = SafetensorsReader.Open(Path.Combine(fixture, "model.safetensors")))
        {
            SafetensorsWriter.Write(Path.Combine(directory, "model.safetensors"), raw.Tensors
                .Select(t => new SafetensorsWriter.Tensor(t.Name, t.DType, [.. t.Shape], t.ReadFloat32()))
                .Append(new SafetensorsWriter.Tensor("rwkv.blocks.1.attention.extra_gate", TensorDType.Float16, [4], [1, 2, 3, 4])));
        }
        AssertRefused(directory, Extra);
    }

    [Test]
    public void Export_DeaTensorsWithoutDeepEmbed_AreRefusedNamingThem()
    {
        // RWKV-7b is DeepEmbed plus DEA; DEA's qkv tensors on a checkpoint without DeepEmbed's tables are not a model we know.
        string path = Path.Combine(_scratch.CreateDirectory(), "dea-without-de.safetensors");
        using (RwkvCheckpoint pth = RwkvCheckpoint.Open(SharedFixtures.Rwkv7Variant("tiny-rwkv-7b-dea-L2.pth")))
        {
            SafetensorsWriter.Write(path, pth.Tensors.Values.Where(t => !t.Name.Contains(".ffn.s", StringComparison.Ordinal))
                .Select(t => new SafetensorsWriter.Tensor(t.Name, t.DType, [.. t.Shape], t.ReadFloat32())));
        }
        string output = Path.Combine(_scratch.CreateDirectory(), "model");

        var e = Assert.Throws<CheckpointFormatException>(() => RwkvExporter.Export(path, output, new ExportOptions()));

        Assert.That(e!.Message, Does.Contain("'blocks.0.qkv.k1'").And.Contain("'blocks.{i}.qkv.*' are the DeepEmbedAttention (DEA) tensors of an RWKV-7b model, which come with DeepEmbed's"));
        Assert.That(Directory.Exists(output), Is.False);
    }

    // RWKV-LM's RWKV-4 trainer saves its head_qk causal mask 'copy_mask' (without head_q/head_k it changes nothing);
    // RWKV-7's trainer saves a value-residual LoRA in layer 0, which inference never reads.
    [TestCase("4v0-660K", "copy_mask", new long[] { 2, 2 })]
    [TestCase("7v0-834K", "blocks.0.att.v0", new long[] { 1, 1, 64 })]
    [TestCase("7v0-834K", "blocks.0.att.v1", new long[] { 64, 32 })]
    public void Export_TensorOnTheIgnoreList_IsNotRefused(string model, string name, long[] shape)
    {
        string path = Path.Combine(_scratch.CreateDirectory(), "with-unused.safetensors");
        using (RwkvCheckpoint pth = RwkvCheckpoint.Open(SharedFixtures.Pth(model, "fp32")))
        {
            SafetensorsWriter.Write(path, pth.Tensors.Values
                .Select(t => new SafetensorsWriter.Tensor(t.Name, t.DType, [.. t.Shape], t.ReadFloat32()))
                .Append(new SafetensorsWriter.Tensor(name, TensorDType.Float32, shape, new float[shape.Aggregate(1L, (a, b) => a * b)])));
        }
        string output = Path.Combine(_scratch.CreateDirectory(), "model");

        RwkvManifest manifest = RwkvExporter.Export(path, output, new ExportOptions());

        Assert.That(manifest.Architecture.Version, Is.EqualTo(model[..1]));
    }

    private void AssertRefused(string checkpoint, string tensor)
    {
        string output = Path.Combine(_scratch.CreateDirectory(), "model");
        var e = Assert.Throws<CheckpointFormatException>(() => RwkvExporter.Export(checkpoint, output, new ExportOptions()));
        using (Assert.EnterMultipleScope())
        {
            Assert.That(e!.TensorName, Is.EqualTo(tensor));
            Assert.That(e.Message, Does.Contain($"'{checkpoint}'").And.Contain($"holds 1 tensor(s)").And.Contain($"'{tensor}'"));
            Assert.That(e.Message, Does.Not.Contain('\n'));
            Assert.That(Directory.Exists(output), Is.False, "nothing is written");
        }
    }
}
