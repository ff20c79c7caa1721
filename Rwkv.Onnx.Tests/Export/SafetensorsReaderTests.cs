using System.Buffers.Binary;
using System.Text;
using Rwkv.Onnx.Export.Checkpoints;
using Rwkv.Onnx.Tests.Fixtures;
using static Rwkv.Onnx.Tests.Fixtures.SafetensorsWriter;

namespace Rwkv.Onnx.Tests.Export;

[TestFixture]
public sealed class SafetensorsReaderTests
{
    private static readonly Tensor[] s_small =
    [
        new("emb.weight", TensorDType.Float32, [2, 3], [1, -2, 3.5f, 4, 5, 6]),
        new("blocks.0.ln1.weight", TensorDType.Float16, [4], [0.5f, -0.25f, 1024, 3]),
        new("blocks.0.att.w1", TensorDType.BFloat16, [2, 2], [1.5f, -3, 256, 0.125f]),
        new("scalar", TensorDType.Float32, [], [42]),
        new("empty", TensorDType.Float16, [0, 3], []),
    ];

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
    public void Open_SmallFile_ReadsDTypesShapesAndValues()
    {
        string path = Path.Combine(_directory, "small.safetensors");
        Write(path, s_small);

        using SafetensorsReader reader = SafetensorsReader.Open(path);

        Assert.That(reader.Tensors.Select(t => t.Name), Is.EqualTo(s_small.Select(t => t.Name)), "header order");
        Assert.That(reader.Files, Is.EqualTo(new[] { path }));
        using (Assert.EnterMultipleScope())
        {
            foreach (Tensor expected in s_small)
            {
                CheckpointTensor t = reader.Tensors.Single(x => x.Name == expected.Name);
                Assert.That((t.DType, t.Shape), Is.EqualTo((expected.DType, expected.Shape)), expected.Name);
                Assert.That(t.ReadFloat32(), Is.EqualTo(expected.Values), expected.Name); // every value is exact in its type
            }
        }
    }

    [Test]
    public void Open_LargeSparseFile_ReadsOnlyItsHeader()
    {
        // A 1 GB tensor in a sparse file: opening reads the header, reading a small tensor reads its bytes only.
        const long Big = 1L << 30;
        string path = Path.Combine(_directory, "large.safetensors");
        string header = $"{{\"small\": {{\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}, \"big\": {{\"dtype\": \"F16\", \"shape\": [{Big / 2}], \"data_offsets\": [8, {8 + Big}]}}}}";
        WriteRaw(path, header, BitConverter.GetBytes(1.5f).Concat(BitConverter.GetBytes(-2f)).ToArray());
        using (FileStream file = File.OpenWrite(path))
        {
            file.SetLength(file.Length + Big);
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        using RwkvCheckpoint checkpoint = RwkvCheckpoint.Open(path);
        float[] small = checkpoint.Get("small").ReadFloat32();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.That(small, Is.EqualTo(new float[] { 1.5f, -2f }));
        Assert.That(checkpoint.Get("big").ElementCount, Is.EqualTo(Big / 2));
        Assert.That(allocated, Is.LessThan(256 << 10));
    }

    [Test]
    public void Open_BlinkDLNames_ThroughRwkvCheckpoint_HasFormatSafetensors()
    {
        string path = Path.Combine(_directory, "model.safetensors");
        Write(path, s_small);

        using RwkvCheckpoint checkpoint = RwkvCheckpoint.Open(path);

        Assert.That(checkpoint.Format, Is.EqualTo("safetensors"));
        Assert.That(checkpoint.Get("blocks.0.att.w1").ReadFloat32(), Is.EqualTo(new float[] { 1.5f, -3, 256, 0.125f }));
    }

    [Test]
    public void Open_HuggingFaceFixture_EqualsTheSameTensorsReadFromPytorchModelBin()
    {
        string folder = Path.Combine(SharedFixtures.FixturesDirectory, "hf", "rwkv-4-tiny-660K");
        using SafetensorsReader safetensors = SafetensorsReader.Open(Path.Combine(folder, "model.safetensors"));
        using TorchZipReader bin = TorchZipReader.Open(Path.Combine(folder, "pytorch_model.bin"));

        Assert.That(safetensors.Tensors.Select(t => t.Name), Is.EquivalentTo(bin.Tensors.Select(t => t.Name)));
        Assert.That(safetensors.Tensors.Select(t => t.Name), Is.Ordered, "the HF writer sorts the header by name");
        using (Assert.EnterMultipleScope())
        {
            foreach (CheckpointTensor t in safetensors.Tensors)
            {
                CheckpointTensor other = bin.Tensors.Single(x => x.Name == t.Name);
                Assert.That((t.DType, t.Shape), Is.EqualTo((TensorDType.Float16, other.Shape)), t.Name);
                Assert.That(t.ReadFloat32(), Is.EqualTo(other.ReadFloat32()), t.Name);
            }
        }
    }

    [Test]
    public void Open_HeaderLongerThanTheLimit_IsRefusedWithoutReadingIt()
    {
        string path = Path.Combine(_directory, "huge.safetensors");
        byte[] bytes = new byte[64];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)SafetensorsReader.MaxHeaderBytes + 1);
        bytes[8] = (byte)'{';
        File.WriteAllBytes(path, bytes);

        CheckpointFormatException? e = Assert.Throws<CheckpointFormatException>(() => SafetensorsReader.Open(path));

        Assert.That(e!.Message, Does.Contain("100 MB").And.Contain(path));
    }

    [Test]
    public void Open_HeaderLongerThanTheFile_IsRefusedAsTruncated()
    {
        string path = WriteSmall();
        byte[] bytes = File.ReadAllBytes(path);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)bytes.Length);
        File.WriteAllBytes(path, bytes);

        Assert.That(Assert.Throws<CheckpointFormatException>(() => SafetensorsReader.Open(path))!.Message, Does.Contain("truncated"));
    }

    [TestCase("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}", "not valid JSON")]
    [TestCase("[1, 2, 3]", "not a JSON object")]
    [TestCase("{\"a\": {\"shape\": [2], \"data_offsets\": [0, 8]}}", "without a string 'dtype'")]
    [TestCase("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0]}}", "two-element 'data_offsets'")]
    [TestCase("{\"a\": {\"dtype\": \"I64\", \"shape\": [1], \"data_offsets\": [0, 8]}}", "as I64; only F32, F16 and BF16")]
    [TestCase("{\"a\": {\"dtype\": \"F32\", \"shape\": [-2], \"data_offsets\": [0, 8]}}", "dimension -2")]
    [TestCase("{\"a\": {\"dtype\": \"F32\", \"shape\": [2.5], \"data_offsets\": [0, 8]}}", "dimension 2.5")]
    [TestCase("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 0]}}", "end before they begin")]
    [TestCase("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 9000]}}", "truncated")]
    [TestCase("{\"a\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}", "need 12")]
    [TestCase("{\"a\": {\"dtype\": \"F32\", \"shape\": [2147483647, 2147483647, 2147483647], \"data_offsets\": [0, 8]}}", "overflows")]
    [TestCase("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}", "overlapping data for tensors 'a' and 'b'")]
    public void Open_InvalidHeader_IsRefusedWithAClearMessage(string header, string expected)
    {
        string path = Path.Combine(_directory, "bad.safetensors");
        WriteRaw(path, header, new byte[16]);

        CheckpointFormatException? e = Assert.Throws<CheckpointFormatException>(() => SafetensorsReader.Open(path));

        Assert.That(e!.Message, Does.Contain(expected).And.Contain(path));
    }

    [Test]
    public void Open_EveryTruncation_IsRefused()
    {
        byte[] bytes = File.ReadAllBytes(WriteSmall());
        string cut = Path.Combine(_directory, "cut.safetensors");

        using (Assert.EnterMultipleScope())
        {
            for (int length = 0; length < bytes.Length; length++)
            {
                File.WriteAllBytes(cut, bytes[..length]);
                CheckpointFormatException? e = Assert.Throws<CheckpointFormatException>(() => OpenAndReadAll(cut), $"length {length}");
                Assert.That(e?.Message, Does.Contain("truncated").Or.Contain("bytes long"), $"length {length}");
            }
        }
    }

    [Test]
    public void Open_EverySingleByteCorruption_FailsOnlyWithCheckpointFormatException()
    {
        byte[] bytes = File.ReadAllBytes(WriteSmall());
        string corrupt = Path.Combine(_directory, "corrupt.safetensors");
        int refused = 0;
        for (int at = 0; at < bytes.Length; at++)
        {
            byte[] copy = (byte[])bytes.Clone();
            copy[at] ^= 0x5a;
            File.WriteAllBytes(corrupt, copy);
            try
            {
                OpenAndReadAll(corrupt);
            }
            catch (CheckpointFormatException)
            {
                refused++;
            }
        }
        Assert.That(refused, Is.GreaterThan(bytes.Length / 2), $"{refused} of {bytes.Length} corruptions refused");
    }

    [Test]
    public void Open_ShardIndex_SpansEveryShard()
    {
        string index = WriteShards(s_small[..2], s_small[2..]);

        using SafetensorsReader reader = SafetensorsReader.Open(index);
        using RwkvCheckpoint checkpoint = RwkvCheckpoint.Open(index);

        using (Assert.EnterMultipleScope())
        {
            Assert.That(reader.Tensors.Select(t => t.Name), Is.EquivalentTo(s_small.Select(t => t.Name)));
            Assert.That(reader.Files.Select(Path.GetFileName), Is.EqualTo(new[] { "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors" }));
            Assert.That(checkpoint.Format, Is.EqualTo("safetensors"));
            Assert.That(checkpoint.Files, Has.Count.EqualTo(2));
            Assert.That(checkpoint.Get("blocks.0.att.w1").ReadFloat32(), Is.EqualTo(new float[] { 1.5f, -3, 256, 0.125f }));
            Assert.That(checkpoint.Get("emb.weight").ReadFloat32(), Is.EqualTo(s_small[0].Values));
        }
    }

    [Test]
    public void Open_ShardIndexPlacingATensorInTheWrongShard_NamesIt()
    {
        string index = WriteShards(s_small[..2], s_small[2..], mapOverride: ("emb.weight", "model-00002-of-00002.safetensors"));

        CheckpointFormatException? e = Assert.Throws<CheckpointFormatException>(() => SafetensorsReader.Open(index));

        Assert.That(e!.TensorName, Is.EqualTo("emb.weight"));
        Assert.That(e.Message, Does.Contain("does not hold it"));
    }

    [TestCase("../outside.safetensors")]
    [TestCase("/etc/passwd")]
    [TestCase("sub/dir.safetensors")]
    public void Open_ShardIndexNamingAFileOutsideItsFolder_IsRefused(string shard)
    {
        string index = Path.Combine(_directory, "model.safetensors.index.json");
        File.WriteAllText(index, $"{{\"metadata\": {{}}, \"weight_map\": {{\"emb.weight\": \"{shard}\"}}}}");

        Assert.That(Assert.Throws<CheckpointFormatException>(() => SafetensorsReader.Open(index))!.Message, Does.Contain("plain file names"));
    }

    [Test]
    public void Open_ShardIndexWithoutWeightMap_IsRefused()
    {
        string index = Path.Combine(_directory, "model.safetensors.index.json");
        File.WriteAllText(index, "{\"metadata\": {}}");

        Assert.That(Assert.Throws<CheckpointFormatException>(() => SafetensorsReader.Open(index))!.Message, Does.Contain("no 'weight_map'"));
    }

    [Test]
    public void Open_CorruptShardIndex_IsRefused()
    {
        string index = WriteShards(s_small[..2], s_small[2..]);
        File.WriteAllText(index, File.ReadAllText(index)[..30]);

        Assert.That(Assert.Throws<CheckpointFormatException>(() => RwkvCheckpoint.Open(index))!.Message, Does.Contain("not valid JSON").And.Contain(index));
    }

    [Test]
    public void Open_ShardIndexNamingAMissingShard_ThrowsFileNotFound()
    {
        string index = WriteShards(s_small[..2], s_small[2..]);
        File.Delete(Path.Combine(_directory, "model-00002-of-00002.safetensors"));

        FileNotFoundException? e = Assert.Throws<FileNotFoundException>(() => RwkvCheckpoint.Open(index));

        Assert.That(e!.Message, Does.Contain("model-00002-of-00002.safetensors").And.Contain(index));
    }

    [Test]
    public void ReadFloat32_AfterDispose_ThrowsObjectDisposed()
    {
        SafetensorsReader reader = SafetensorsReader.Open(WriteSmall());
        CheckpointTensor tensor = reader.Tensors[0];
        reader.Dispose();

        Assert.Throws<ObjectDisposedException>(() => tensor.ReadFloat32());
    }

    private string WriteSmall()
    {
        string path = Path.Combine(_directory, "small.safetensors");
        Write(path, s_small);
        return path;
    }

    private string WriteShards(Tensor[] first, Tensor[] second, (string Name, string File)? mapOverride = null)
    {
        const string First = "model-00001-of-00002.safetensors", Second = "model-00002-of-00002.safetensors";
        Write(Path.Combine(_directory, First), first);
        Write(Path.Combine(_directory, Second), second);
        var map = first.Select(t => (t.Name, First)).Concat(second.Select(t => (t.Name, Second)))
            .Select(p => mapOverride is { } o && o.Name == p.Name ? (p.Name, o.File) : p);
        var json = new StringBuilder("{\"metadata\": {\"total_size\": 0}, \"weight_map\": {");
        json.AppendJoin(", ", map.Select(p => $"\"{p.Name}\": \"{p.Item2}\"")).Append("}}");
        string index = Path.Combine(_directory, "model.safetensors.index.json");
        File.WriteAllText(index, json.ToString());
        return index;
    }

    private static void OpenAndReadAll(string path)
    {
        using RwkvCheckpoint checkpoint = RwkvCheckpoint.Open(path);
        foreach (CheckpointTensor t in checkpoint.Tensors.Values)
        {
            t.ReadFloat32();
        }
    }
}
