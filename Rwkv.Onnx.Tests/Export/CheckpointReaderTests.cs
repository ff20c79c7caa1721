using System.Buffers.Binary;
using NUnit.Framework;
using Rwkv.Onnx.Export.Checkpoints;
using Rwkv.Onnx.Export.RandomCheckpoints;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Export;

[TestFixture]
public sealed class CheckpointReaderTests
{
    private const string V7 = "7v0-834K";

    // A small valid file: two FP32 tensors.
    private static readonly RwkvCppWriter.Tensor s_first = new("emb.weight", [3, 2], [1, 2, 3, 4, 5, 6]);
    private static readonly RwkvCppWriter.Tensor s_second = new("blocks.0.ln1.weight", [2], [7, 8]);

    private string _directory = "";

    [SetUp]
    public void SetUp()
    {
        _directory = Path.Combine(Path.GetTempPath(), "rwkv-onnx-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_directory);
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_directory, recursive: true);

    [Test]
    public void Open_MissingFile_ThrowsFileNotFoundNamingPath()
    {
        string path = Path.Combine(_directory, "absent.bin");

        FileNotFoundException? direct = Assert.Throws<FileNotFoundException>(() => RwkvCppReader.Open(path));
        FileNotFoundException? canonical = Assert.Throws<FileNotFoundException>(() => RwkvCheckpoint.Open(path));

        using (Assert.EnterMultipleScope())
        {
            Assert.That(direct!.FileName, Is.EqualTo(path));
            Assert.That(direct.Message, Does.Contain(path));
            Assert.That(canonical!.FileName, Is.EqualTo(path));
            Assert.That(canonical.Message, Does.Contain(path));
        }
    }

    [Test]
    public void Open_WrongMagic_ThrowsMentioningMagic()
    {
        string path = WriteSmallModel();
        byte[] bytes = File.ReadAllBytes(path);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, 0x46554747); // "GGUF"
        File.WriteAllBytes(path, bytes);

        CheckpointFormatException? direct = Assert.Throws<CheckpointFormatException>(() => RwkvCppReader.Open(path));
        CheckpointFormatException? canonical = Assert.Throws<CheckpointFormatException>(() => RwkvCheckpoint.Open(path));

        using (Assert.EnterMultipleScope())
        {
            Assert.That(direct!.Message, Does.Contain("magic").And.Contain(path));
            Assert.That(direct.Path, Is.EqualTo(path));
            Assert.That(canonical!.Message, Does.Contain("magic").And.Contain(path));
        }
    }

    [Test]
    public void Open_WrongFileVersion_ThrowsNamingVersion()
    {
        string path = WriteSmallModel();
        byte[] bytes = File.ReadAllBytes(path);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(4), 99);
        File.WriteAllBytes(path, bytes);

        CheckpointFormatException? e = Assert.Throws<CheckpointFormatException>(() => RwkvCppReader.Open(path));

        Assert.That(e!.Message, Does.Contain("99").And.Contain("version"));
    }

    [Test]
    public void Open_TruncatedInsideHeader_ThrowsNamingHeaderSize()
    {
        string path = WriteSmallModel();
        File.WriteAllBytes(path, File.ReadAllBytes(path)[..10]);

        CheckpointFormatException? direct = Assert.Throws<CheckpointFormatException>(() => RwkvCppReader.Open(path));
        CheckpointFormatException? canonical = Assert.Throws<CheckpointFormatException>(() => RwkvCheckpoint.Open(path));

        // The reader words this case "is 10 bytes long, shorter than the 24-byte rwkv.cpp header"
        // rather than "truncated"; the length and the header size are what a user needs.
        using (Assert.EnterMultipleScope())
        {
            Assert.That(direct!.Message, Does.Contain(path).And.Contain("10 bytes").And.Contain("24-byte"));
            Assert.That(direct.Path, Is.EqualTo(path));
            Assert.That(direct.TensorName, Is.Null);
            Assert.That(canonical!.Message, Does.Contain("24-byte"));
        }
    }

    // Offsets into the small file: header [0, 24); first record header [24, 54) = 12 fixed bytes,
    // two dims, the 10-byte name; its data [54, 78); the second record header starts at 78.
    [TestCase(24 + 6, null, TestName = "Open_Truncated_InsideRecordHeader")]
    [TestCase(24 + 12 + 4, null, TestName = "Open_Truncated_InsideDims")]
    [TestCase(24 + 12 + 8 + 3, null, TestName = "Open_Truncated_InsideName")]
    [TestCase(54 + 10, "emb.weight", TestName = "Open_Truncated_InsideFirstTensorData")]
    [TestCase(78 + 5, null, TestName = "Open_Truncated_InsideSecondRecordHeader")]
    [TestCase(78 + 12 + 4 + 19 + 4, "blocks.0.ln1.weight", TestName = "Open_Truncated_InsideLastTensorData")]
    public void Open_TruncatedFile_ThrowsMentioningTruncation(int length, string? tensorName)
    {
        string path = WriteSmallModel();
        Assert.That(new FileInfo(path).Length, Is.EqualTo(24 + (30 + 24) + (35 + 8)), "layout of the small model");
        byte[] bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..length]);

        CheckpointFormatException? e = Assert.Throws<CheckpointFormatException>(() => RwkvCppReader.Open(path));

        using (Assert.EnterMultipleScope())
        {
            Assert.That(e!.Message, Does.Contain("truncated"), "message");
            Assert.That(e.Message, Does.Contain(path));
            Assert.That(e.Path, Is.EqualTo(path));
            Assert.That(e.TensorName, Is.EqualTo(tensorName));
            if (tensorName is not null)
            {
                Assert.That(e.Message, Does.Contain($"'{tensorName}'"));
            }
        }
    }

    [TestCase(0)]
    [TestCase(4)]
    [TestCase(-1)]
    public void Open_BadDimCount_ThrowsNamingCount(int dimCount)
    {
        string path = WriteSmallModel();
        byte[] bytes = File.ReadAllBytes(path);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(RwkvCppWriter.HeaderSize), dimCount);
        File.WriteAllBytes(path, bytes);

        CheckpointFormatException? e = Assert.Throws<CheckpointFormatException>(() => RwkvCppReader.Open(path));

        Assert.That(e!.Message, Does.Contain($"{dimCount} dimensions").And.Contain("1 to 3"));
    }

    [Test]
    public void Open_NonPositiveDim_ThrowsNamingTensor()
    {
        string path = WriteSmallModel();
        byte[] bytes = File.ReadAllBytes(path);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(RwkvCppWriter.HeaderSize + 12), 0);
        File.WriteAllBytes(path, bytes);

        CheckpointFormatException? e = Assert.Throws<CheckpointFormatException>(() => RwkvCppReader.Open(path));

        Assert.That(e!.TensorName, Is.EqualTo("emb.weight"));
    }

    [Test]
    public void Open_SmallModel_ReadsHeaderShapesAndValues()
    {
        string path = WriteSmallModel();

        using RwkvCppReader reader = RwkvCppReader.Open(path);

        using (Assert.EnterMultipleScope())
        {
            Assert.That(reader.FileVersion, Is.EqualTo(101));
            Assert.That((reader.VocabSize, reader.EmbeddingSize, reader.LayerCount), Is.EqualTo((3, 2, 1)));
            Assert.That(reader.Tensors.Select(t => t.Name), Is.EqualTo(new[] { "emb.weight", "blocks.0.ln1.weight" }));
            Assert.That(reader.Tensors[0].Shape, Is.EqualTo(new long[] { 3, 2 }));
            Assert.That(reader.Tensors[0].ReadFloat32(), Is.EqualTo(s_first.Data));
            Assert.That(reader.Tensors[1].ReadFloat32(), Is.EqualTo(s_second.Data));
        }
    }

    [Test]
    public void ReadFloat32_WrongDestinationLength_ThrowsNamingTensor()
    {
        using RwkvCppReader reader = RwkvCppReader.Open(WriteSmallModel());

        ArgumentException? e = Assert.Throws<ArgumentException>(() => reader.Tensors[0].ReadFloat32(new float[5]));

        Assert.That(e!.Message, Does.Contain("'emb.weight'").And.Contain("6"));
    }

    [Test]
    public void ReadFloat32_AfterDispose_ThrowsObjectDisposed()
    {
        RwkvCppReader reader = RwkvCppReader.Open(WriteSmallModel());
        CheckpointTensor tensor = reader.Tensors[0];
        reader.Dispose();

        Assert.Throws<ObjectDisposedException>(() => tensor.ReadFloat32());
    }

    [Test]
    public void ReadFloat32_OneFixtureTensor_MatchesFileBytes()
    {
        string path = SharedFixtures.RwkvCppModel(V7, "FP32");
        using RwkvCppReader reader = RwkvCppReader.Open(path);

        CheckpointTensor embedding = reader.Tensors.Single(t => t.Name == "emb.weight");
        float[] values = embedding.ReadFloat32();

        // emb.weight is the first record: 24-byte header, 12 fixed bytes, dims (64, 256), 10-byte name.
        byte[] file = File.ReadAllBytes(path);
        const int DataOffset = 24 + 12 + 8 + 10;
        using (Assert.EnterMultipleScope())
        {
            Assert.That(embedding.Shape, Is.EqualTo(new long[] { 256, 64 }));
            Assert.That(embedding.DType, Is.EqualTo(TensorDType.Float32));
            Assert.That(values, Has.Length.EqualTo(256 * 64));
            foreach (int i in (int[])[0, 1, 63, 64, 256 * 64 - 1])
            {
                float expected = BinaryPrimitives.ReadSingleLittleEndian(file.AsSpan(DataOffset + 4 * i));
                Assert.That(values[i], Is.EqualTo(expected), $"element {i}");
            }
        }
    }

    [Test]
    public void Open_V7Fixture_ExposesCanonicalTensors()
    {
        using RwkvCppReader raw = RwkvCppReader.Open(SharedFixtures.RwkvCppModel(V7, "FP32"));
        using RwkvCheckpoint checkpoint = RwkvCheckpoint.Open(SharedFixtures.RwkvCppModel(V7, "FP32"));

        using (Assert.EnterMultipleScope())
        {
            foreach (string mix in (string[])["x_r", "x_w", "x_k", "x_v", "x_a", "x_g"])
            {
                Assert.That(checkpoint.Get($"blocks.0.att.{mix}").Shape, Is.EqualTo(new long[] { 1, 1, 64 }), mix);
            }
            Assert.That(checkpoint.Find("blocks.0.att.x_rwkvag"), Is.Null);
            foreach (string down in (string[])["w1", "a1", "g1"])
            {
                Assert.That(checkpoint.Get($"blocks.0.att.{down}").Shape, Is.EqualTo(new long[] { 64, 32 }), down);
            }
            foreach (string up in (string[])["w2", "a2", "g2"])
            {
                Assert.That(checkpoint.Get($"blocks.0.att.{up}").Shape, Is.EqualTo(new long[] { 32, 64 }), up);
            }
            Assert.That(checkpoint.Find("blocks.0.att.v0"), Is.Null, "layer 0 has no value-residual LoRA");
            Assert.That(checkpoint.Get("blocks.1.att.v1").Shape, Is.EqualTo(new long[] { 64, 32 }));
            Assert.That(checkpoint.Get("blocks.1.att.v0").Shape, Is.EqualTo(new long[] { 1, 1, 64 }));
            Assert.That(checkpoint.Get("blocks.0.att.r_k").Shape, Is.EqualTo(new long[] { 1, 64 }));
            Assert.That(checkpoint.Get("blocks.0.ffn.key.weight").Shape, Is.EqualTo(new long[] { 256, 64 }));
        }

        // Values: x_a is the fifth slice of x_rwkvag; w1 is the transpose of the stored [32, 64].
        float[] rwkvag = raw.Tensors.Single(t => t.Name == "blocks.3.att.x_rwkvag").ReadFloat32();
        float[] xa = checkpoint.Get("blocks.3.att.x_a").ReadFloat32();
        float[] storedW1 = raw.Tensors.Single(t => t.Name == "blocks.3.att.w1").ReadFloat32();
        float[] w1 = checkpoint.Get("blocks.3.att.w1").ReadFloat32();
        using (Assert.EnterMultipleScope())
        {
            Assert.That(xa, Is.EqualTo(rwkvag[(4 * 64)..(5 * 64)]));
            Assert.That(w1[(5 * 32) + 7], Is.EqualTo(storedW1[(7 * 64) + 5]), "w1[c=5, d=7] = stored[d=7, c=5]");
            Assert.That(w1[(63 * 32) + 31], Is.EqualTo(storedW1[(31 * 64) + 63]));
        }
    }

    [Test]
    public void ReadFloat32_Fp16Fixture_EqualsFp32FixtureRoundedToHalf()
    {
        using RwkvCppReader fp32 = RwkvCppReader.Open(SharedFixtures.RwkvCppModel(V7, "FP32"));
        using RwkvCppReader fp16 = RwkvCppReader.Open(SharedFixtures.RwkvCppModel(V7, "FP16"));
        Assert.That(fp16.Tensors.Select(t => t.Name), Is.EqualTo(fp32.Tensors.Select(t => t.Name)));

        int halfTensors = 0;
        for (int i = 0; i < fp32.Tensors.Count; i++)
        {
            CheckpointTensor full = fp32.Tensors[i], half = fp16.Tensors[i];
            Assert.That(half.Shape, Is.EqualTo(full.Shape), full.Name);
            float[] expected = full.ReadFloat32();
            if (half.DType == TensorDType.Float16)
            {
                halfTensors++;
                expected = Array.ConvertAll(expected, v => (float)(Half)v);
            }
            Assert.That(half.ReadFloat32(), Is.EqualTo(expected), full.Name);
        }
        // emb, head, and per layer 4 attention + 2 ffn matrices and 6 (layer 0) or 8 LoRA matrices.
        Assert.That(halfTensors, Is.EqualTo(2 + (12 * 6) + 6 + (11 * 8)));
    }

    [TestCase(TensorDType.Float32)]
    [TestCase(TensorDType.Float16)]
    public void Open_GeneratedMultiHeadModel_RoundTripsCanonicalTensors(TensorDType weightType)
    {
        string path = Path.Combine(_directory, "tiny-v7.bin");
        var written = new List<CanonicalTensor>();
        RandomCheckpoint.WriteRwkv7(
            path, layers: 3, embd: 128, headSize: 64, vocab: 300, ffn: 512,
            loraW: 32, loraA: 32, loraV: 16, loraG: 64, seed: 7, weightType, written);

        using RwkvCheckpoint checkpoint = RwkvCheckpoint.Open(path);

        Assert.That(checkpoint.Tensors.Keys, Is.EquivalentTo(written.Select(t => t.Name)));
        using (Assert.EnterMultipleScope())
        {
            foreach (CanonicalTensor tensor in written)
            {
                CheckpointTensor read = checkpoint.Get(tensor.Name);
                Assert.That(read.Shape, Is.EqualTo(tensor.Shape), tensor.Name);
                Assert.That(read.ReadFloat32(), Is.EqualTo(tensor.Data), tensor.Name);
            }
            Assert.That(checkpoint.Get("blocks.1.att.v1").Shape, Is.EqualTo(new long[] { 128, 16 }));
            Assert.That(checkpoint.Get("blocks.2.att.g2").Shape, Is.EqualTo(new long[] { 64, 128 }));
            Assert.That(checkpoint.Get("blocks.0.att.r_k").Shape, Is.EqualTo(new long[] { 2, 64 }));
            Assert.That(checkpoint.Get("blocks.0.att.key.weight").DType, Is.EqualTo(weightType));
            Assert.That(checkpoint.Get("blocks.0.att.x_g").DType, Is.EqualTo(TensorDType.Float32));
        }
    }

    [Test]
    public void WriteRwkv7_SameSeed_WritesSameBytes()
    {
        string first = Path.Combine(_directory, "a.bin"), second = Path.Combine(_directory, "b.bin"), other = Path.Combine(_directory, "c.bin");
        RandomCheckpoint.WriteRwkv7(first, 2, 64, 32, 50, 128, 8, 8, 8, 8, seed: 1);
        RandomCheckpoint.WriteRwkv7(second, 2, 64, 32, 50, 128, 8, 8, 8, 8, seed: 1);
        RandomCheckpoint.WriteRwkv7(other, 2, 64, 32, 50, 128, 8, 8, 8, 8, seed: 2);

        Assert.That(File.ReadAllBytes(second), Is.EqualTo(File.ReadAllBytes(first)));
        Assert.That(File.ReadAllBytes(other), Is.Not.EqualTo(File.ReadAllBytes(first)));
    }

    private string WriteSmallModel()
    {
        string path = Path.Combine(_directory, "small.bin");
        RwkvCppWriter.Write(path, vocabSize: 3, embeddingSize: 2, layerCount: 1, TensorDType.Float32, [s_first, s_second]);
        return path;
    }
}
