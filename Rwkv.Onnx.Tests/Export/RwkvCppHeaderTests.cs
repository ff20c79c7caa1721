using System.Buffers.Binary;
using Rwkv.Onnx.Export.Checkpoints;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Export;

/// <summary>
/// <see cref="RwkvCppReader.CheckHeader"/> through <see cref="RwkvCheckpoint.Open"/>: a header field of a real fixture
/// overwritten with a value its tensors contradict is refused, naming the field, the header's value and the value
/// the tensors imply (read off the fixtures README, not from our reader).
/// </summary>
[TestFixture]
public sealed class RwkvCppHeaderTests
{
    // Header layout: magic, file version, n_vocab, n_embed, n_layer, data_type (int32 each).
    private const int VocabOffset = 8, EmbedOffset = 12, LayerOffset = 16, DataTypeOffset = 20;

    private readonly ScratchRoot _scratch = new("rwkv-cpp-header-");

    [SetUp]
    public void SetUp() => _scratch.Create();

    [TearDown]
    public void TearDown() => _scratch.Delete();

    // 4v0-660K: emb.weight [256, 128], 4 blocks (fixtures README, table of sizes and the header dump).
    [TestCase("FP32", VocabOffset, 257, "n_vocab 257, but its tensors imply 256", TestName = "Open_HeaderVocabContradictsEmbedding_IsRefused")]
    [TestCase("FP32", EmbedOffset, int.MaxValue, "n_embed 2147483647, but its tensors imply 128", TestName = "Open_HeaderEmbedOfIntMax_IsRefused")]
    [TestCase("FP32", EmbedOffset, 64, "n_embed 64, but its tensors imply 128", TestName = "Open_HeaderEmbedTooSmall_IsRefused")]
    [TestCase("FP32", LayerOffset, 5, "n_layer 5, but its tensors imply 4 (the last block is 'blocks.3')", TestName = "Open_HeaderLayersBeyondBlocks_IsRefused")]
    [TestCase("FP32", LayerOffset, 3, "n_layer 3, but its tensors imply 4", TestName = "Open_HeaderLayersBelowBlocks_IsRefused")]
    [TestCase("FP32", DataTypeOffset, 1, "data_type 1 (FP16), but its tensors imply 0 (FP32): no tensor is stored as FP16", TestName = "Open_HeaderFp16OnFp32Tensors_IsRefused")]
    [TestCase("FP16", DataTypeOffset, 0, "data_type 0 (FP32), but its tensors imply 1 (FP16): tensor 'emb.weight' is stored as FP16", TestName = "Open_HeaderFp32OnFp16Tensors_IsRefused")]
    [TestCase("Q5_0", DataTypeOffset, 8, "data_type 8 (Q5_1), but its tensors imply 7 (Q5_0): no tensor is stored as Q5_1", TestName = "Open_HeaderQ5_1OnQ5_0Tensors_IsRefused")]
    [TestCase("Q5_1", DataTypeOffset, 1, "data_type 1 (FP16), but its tensors imply 8 (Q5_1)", TestName = "Open_HeaderFp16OnQ5_1Tensors_IsRefused")]
    [TestCase("Q5_1", DataTypeOffset, 0, "data_type 0 (FP32), but its tensors imply 8 (Q5_1)", TestName = "Open_HeaderFp32OnQ5_1Tensors_IsRefused")]
    [TestCase("FP32", DataTypeOffset, 5, "data_type 5 (Q4_2), but its tensors imply 0 (FP32)", TestName = "Open_HeaderRemovedDataType_IsRefused")]
    [TestCase("FP32", DataTypeOffset, -1, "data_type -1 (unknown), but its tensors imply 0 (FP32)", TestName = "Open_HeaderUnknownDataType_IsRefused")]
    public void Open_HeaderContradictingTensors(string type, int offset, int value, string expected)
    {
        string path = PatchedFixture(type, offset, value);

        var e = Assert.Throws<CheckpointFormatException>(() => RwkvCheckpoint.Open(path).Dispose());

        Assert.That(e!.Message, Does.StartWith($"Checkpoint '{path}' has a header that says {expected}"));
        Assert.That(e.Path, Is.EqualTo(path));
    }

    [Test]
    public void Open_EveryFixtureHeader_AgreesWithItsTensors(
        [Values("4v0-660K", "5v1-730K", "5v2-730K", "6v0-1m", "7v0-834K")] string model,
        [Values("FP32", "FP16", "Q5_0", "Q5_1")] string type)
    {
        using RwkvCppReader reader = RwkvCppReader.Open(SharedFixtures.RwkvCppModel(model, type));

        Assert.DoesNotThrow(reader.CheckHeader);
    }

    [Test]
    public void ReaderOpen_HeaderContradictingTensors_StillReadsTheTensors()
    {
        // Only the model-level open checks the header: the reader alone serves partial files and tools.
        string path = PatchedFixture("FP32", EmbedOffset, int.MaxValue);

        using RwkvCppReader reader = RwkvCppReader.Open(path);

        Assert.That(reader.EmbeddingSize, Is.EqualTo(int.MaxValue));
        Assert.That(reader.Tensors.Single(t => t.Name == "emb.weight").Shape, Is.EqualTo(new long[] { 256, 128 }));
    }

    private string PatchedFixture(string type, int offset, int value)
    {
        byte[] bytes = File.ReadAllBytes(SharedFixtures.RwkvCppModel("4v0-660K", type));
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(offset), value);
        string path = Path.Combine(_scratch.Path, $"patched-{type}.bin");
        File.WriteAllBytes(path, bytes);
        return path;
    }
}
