using System.Buffers.Binary;
using System.Text;
using Rwkv.Onnx.Export.Checkpoints;
using Rwkv.Onnx.Tests.Fixtures;
using static Rwkv.Onnx.Tests.Fixtures.TorchZipWriter;

namespace Rwkv.Onnx.Tests.Reliability;

/// <summary>
/// The nastiest checkpoint inputs, kept as regression tests with the exact exception and what its message must say:
/// hostile pickles, deep nesting, absurd declared sizes, a deflate bomb, and every case the fuzzer (or reading the
/// readers for it) found to escape as an untyped exception. Each is built in code, so its intent is in its name.
/// </summary>
[TestFixture]
public sealed class FuzzCorpusTests
{
    private const string Pickle = "archive/data.pkl";
    private string _directory = "";

    [SetUp]
    public void SetUp()
    {
        _directory = Path.Combine(Path.GetTempPath(), "rwkv-onnx-fuzz", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_directory);
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_directory, recursive: true);

    private static CheckpointFormatException Unpickle(byte[] pickle) =>
        Assert.Throws<CheckpointFormatException>(() => RestrictedUnpickler.Load(pickle, "evil.pth", Pickle))!;

    [Test]
    public void Pickle_ReduceOfOsSystem_IsRefusedByName()
    {
        byte[] pickle = new PickleWriter().Proto(2).Global("os", "system").Unicode("touch /tmp/pwned").Tuple1().Reduce().Stop().ToArray();

        CheckpointFormatException e = Unpickle(pickle);

        Assert.That(e.Message, Does.Contain("evil.pth").And.Contain("'os.system'").And.Contain("not on the allow-list"));
    }

    [Test]
    public void Pickle_StackGlobalOfBuiltinsEval_IsRefusedByName()
    {
        byte[] pickle = new PickleWriter().Proto(4).ShortUnicode("builtins").ShortUnicode("eval").StackGlobal()
            .ShortUnicode("__import__('os').system('id')").Tuple1().Reduce().Stop().ToArray();

        CheckpointFormatException e = Unpickle(pickle);

        Assert.That(e.Message, Does.Contain("'builtins.eval'").And.Contain("never executes code"));
    }

    [TestCase((byte)'i', "(INST)")]
    [TestCase((byte)0x81, "(NEWOBJ)")]
    [TestCase((byte)'o', "(OBJ)")]
    [TestCase((byte)0x82, "(EXT)")]
    public void Pickle_ObjectBuildingOpcode_IsRefused(byte opcode, string name)
    {
        byte[] pickle = new PickleWriter().Proto(2).Mark().Op(opcode).Raw("posix\nsystem\n"u8.ToArray()).Stop().ToArray();

        CheckpointFormatException e = Unpickle(pickle);

        Assert.That(e.Message, Does.Contain(name).And.Contain("refused"));
    }

    [Test]
    public void Pickle_CallOfAStorageClass_IsRefused()
    {
        byte[] pickle = new PickleWriter().Proto(2).Global("torch", "FloatStorage").Int(1_000_000_000).Tuple1().Reduce().Stop().ToArray();

        CheckpointFormatException e = Unpickle(pickle);

        Assert.That(e.Message, Does.Contain("calls the storage class 'torch.FloatStorage'"));
    }

    [Test]
    public void Pickle_DeepNestedLists_NoStackOverflow_AndTheReaderRejectsANonDict()
    {
        // Recursive unpicklers (and recursive printers of the result) die here with a StackOverflowException,
        // which no catch can stop; this one keeps its own stack.
        const int Depth = 200_000;
        var w = new PickleWriter().Proto(2);
        for (int i = 0; i < Depth; i++)
        {
            w.EmptyList();
        }
        for (int i = 1; i < Depth; i++)
        {
            w.Append();
        }
        byte[] pickle = w.Stop().ToArray();

        object? root = RestrictedUnpickler.Load(pickle, "deep.pth", Pickle);
        Assert.That(root, Is.InstanceOf<List<object?>>());

        string path = Path.Combine(_directory, "deep.pth");
        WriteZip(path, [(Pickle, pickle)], new ZipOptions());
        var e = Assert.Throws<CheckpointFormatException>(() => TorchZipReader.Open(path));
        Assert.That(e!.Message, Does.Contain("deep.pth").And.Contain("does not hold a dict of tensors"));
    }

    [Test]
    public void Pickle_DeepNestedTuplesAndDicts_ReturnWithoutRecursion()
    {
        const int Depth = 200_000;
        var tuples = new PickleWriter().Proto(2);
        for (int i = 0; i < Depth; i++)
        {
            tuples.Mark();
        }
        for (int i = 0; i < Depth; i++)
        {
            tuples.Tuple();
        }
        var dicts = new PickleWriter().Proto(2).EmptyDict();
        for (int i = 0; i < Depth; i++)
        {
            dicts.Int(1).EmptyDict();
        }
        for (int i = 0; i < Depth; i++)
        {
            dicts.SetItem();
        }

        Assert.That(RestrictedUnpickler.Load(tuples.Stop().ToArray(), "t.pth", Pickle), Is.InstanceOf<object?[]>());
        Assert.That(RestrictedUnpickler.Load(dicts.Stop().ToArray(), "d.pth", Pickle), Is.InstanceOf<PickleDict>());
    }

    [Test]
    public void Pickle_LongBinGetOfHugeMemoIndex_IsCorruptNotAnAllocation()
    {
        CheckpointFormatException e = Unpickle(new PickleWriter().Proto(2).LongBinGet(uint.MaxValue).Stop().ToArray());

        Assert.That(e.Message, Does.Contain("memo entry 4294967295, which was never stored"));
    }

    [TestCase((byte)'X', 4, TestName = "Pickle_BinUnicodeOf4GiB_IsTruncatedNotAnAllocation")]
    [TestCase((byte)0x8d, 8, TestName = "Pickle_BinUnicode8Of2Pow63_IsTruncatedNotAnAllocation")]
    [TestCase((byte)'B', 4, TestName = "Pickle_BinBytesOf4GiB_IsTruncatedNotAnAllocation")]
    [TestCase((byte)0x8b, 4, TestName = "Pickle_Long4Of4GiB_IsTruncatedNotAnAllocation")]
    [TestCase((byte)0x95, 8, TestName = "Pickle_FrameOf2Pow63_IsRefused")]
    public void Pickle_HugeDeclaredLength(byte opcode, int width)
    {
        byte[] length = width == 4 ? BitConverter.GetBytes(uint.MaxValue) : BitConverter.GetBytes(long.MaxValue);
        byte[] pickle = new PickleWriter().Proto(4).Op(opcode).Raw(length).Raw("abc"u8.ToArray()).Stop().ToArray();
        long before = GC.GetAllocatedBytesForCurrentThread();

        CheckpointFormatException e = Unpickle(pickle);

        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.LessThan(1 << 20));
        Assert.That(e.Message, Does.Contain("evil.pth").And.Contain("truncated").Or.Contain("frame longer than the bytes that remain"));
    }

    [Test]
    public void Pickle_Long4OfHundredBytes_IsRefusedAsTooWide()
    {
        CheckpointFormatException e = Unpickle(new PickleWriter().Proto(2).Op(0x8b).Raw(BitConverter.GetBytes(100)).Raw(new byte[100]).Stop().ToArray());

        Assert.That(e.Message, Does.Contain("100-byte integer"));
    }

    [Test]
    public void Pth_StorageOfLongMaxValueElements_IsCheckpointFormatNotOverflow()
    {
        // Found reading the reader for the fuzzer: numel * element size overflowed in a checked multiply (OverflowException).
        string path = WritePth(StatePickle(numel: long.MaxValue, shape: [2]), ("archive/data/0", new byte[8]));

        var e = Assert.Throws<CheckpointFormatException>(() => TorchZipReader.Open(path));

        Assert.That(e!.Message, Does.Contain("storage entry 'archive/data/0' of 8 bytes").And.Contain("more bytes than a file can hold"));
        Assert.That(e.TensorName, Is.EqualTo("w"));
    }

    [Test]
    public void Pth_ViewBeyondItsStorage_IsRefused()
    {
        string path = WritePth(StatePickle(numel: 2, shape: [3]), ("archive/data/0", new byte[8]));

        var e = Assert.Throws<CheckpointFormatException>(() => TorchZipReader.Open(path));

        Assert.That(e!.Message, Does.Contain("tensor 'w' [3] with 3 elements over storage '0' of only 2"));
    }

    [TestCase("w", TestName = "Pth_DeflateBomb_DeclaredGigabyteIsCheckedBeforeAnyBufferIsSized")]
    [TestCase("rwkv.w", TestName = "Pth_DeflateBombUnderTransformersName_IsCheckedBeforeTheRenamedTensorAllocates")]
    public void Pth_DeflateBomb(string name)
    {
        // 1 MiB of incompressible data whose directory claims it inflates to 1 GiB (under deflate's 1032:1 limit), with
        // a pickle that agrees; reading the tensor would have allocated a 1 GiB float buffer before the data ran out.
        const long Declared = 1L << 30;
        byte[] data = new byte[1 << 20];
        new Random(3).NextBytes(data);
        string path = Path.Combine(_directory, "bomb.pth");
        WriteZip(path, [(Pickle, StatePickle(numel: Declared / 4, shape: [Declared / 4], name)), ("archive/data/0", data)], new ZipOptions(Deflate: true));
        byte[] bytes = File.ReadAllBytes(path);
        int central = FuzzHarness.Occurrences(bytes, BitConverter.GetBytes(0x02014b50u)).ElementAt(1);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(central + 24), (uint)Declared);
        File.WriteAllBytes(path, bytes);
        long before = GC.GetAllocatedBytesForCurrentThread();

        var e = Assert.Throws<CheckpointFormatException>(() => FuzzSeeds.OpenAndReadAll(path));

        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.LessThan(16 << 20));
        Assert.That(e!.Message, Does.Contain("bomb.pth").And.Contain("'archive/data/0'").And.Contain($"decompresses to {data.Length} bytes; its directory declares {Declared}"));
    }

    [Test]
    public void Pth_DeflatedEntryWithWrongCrc_IsCorrupt()
    {
        string path = Path.Combine(_directory, "crc.pth");
        WriteZip(path, [(Pickle, StatePickle(numel: 2, shape: [2])), ("archive/data/0", new byte[8])], new ZipOptions(Deflate: true));
        byte[] bytes = File.ReadAllBytes(path);
        int central = FuzzHarness.Occurrences(bytes, BitConverter.GetBytes(0x02014b50u)).ElementAt(1);
        bytes[central + 16] ^= 0xFF;
        File.WriteAllBytes(path, bytes);

        var e = Assert.Throws<CheckpointFormatException>(() => FuzzSeeds.OpenAndReadAll(path));

        Assert.That(e!.Message, Does.Contain("'archive/data/0' (tensor 'w') has CRC-32"));
    }

    [Test]
    public void Zip_CentralDirectoryOffsetPastEndOfFile_IsTruncated()
    {
        string path = WritePth(StatePickle(numel: 2, shape: [2]), ("archive/data/0", new byte[8]));
        byte[] bytes = File.ReadAllBytes(path);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(bytes.Length - 6), 0x7FFFFFF0);
        File.WriteAllBytes(path, bytes);

        var e = Assert.Throws<CheckpointFormatException>(() => TorchZipReader.Open(path));

        Assert.That(e!.Message, Does.Contain("central directory").And.Contain("at byte 2147483632"));
    }

    [Test]
    public void Zip_LocalHeaderLyingAboutItsExtraField_PointsPastTheFile()
    {
        string path = WritePth(StatePickle(numel: 2, shape: [2]), ("archive/data/0", new byte[8]));
        byte[] bytes = File.ReadAllBytes(path);
        int local = FuzzHarness.Occurrences(bytes, BitConverter.GetBytes(0x04034b50u)).ElementAt(1);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(local + 28), ushort.MaxValue);
        File.WriteAllBytes(path, bytes);

        var e = Assert.Throws<CheckpointFormatException>(() => TorchZipReader.Open(path));

        Assert.That(e!.Message, Does.Contain("is truncated: zip entry 'archive/data/0' needs 8 bytes"));
    }

    [Test]
    public void RwkvCpp_ThreeDimensionsOfIntMax_ProductOverflowIsTruncationNotOverflow()
    {
        string path = Path.Combine(_directory, "huge.bin");
        RwkvCppWriter.WriteRaw(path, 256, 64, 1, 0, [new("emb.weight", [int.MaxValue, int.MaxValue, int.MaxValue], 0, new byte[64])]);

        var e = Assert.Throws<CheckpointFormatException>(() => RwkvCppReader.Open(path));

        Assert.That(e!.Message, Does.Contain("huge.bin").And.Contain("tensor 'emb.weight' [2147483647, 2147483647, 2147483647] needs more than the 64 bytes"));
    }

    [Test]
    public void RwkvCpp_OneDimensionalRwkv6Lora_IsCheckpointFormatNotIndexOutOfRange()
    {
        // Found reading RwkvCppLayout for the fuzzer: the transpose of time_decay_w1 read Shape[1] of a 1-D tensor.
        string path = Path.Combine(_directory, "lora.bin");
        RwkvCppWriter.WriteRaw(path, 256, 4, 1, 0, [new("blocks.0.att.time_decay_w1", [4], 0, new byte[16])]);

        var e = Assert.Throws<CheckpointFormatException>(() => RwkvCheckpoint.Open(path));

        Assert.That(e!.Message, Does.Contain("Tensor 'blocks.0.att.time_decay_w1' in").And.Contain("has shape [4]; expected 2 dimensions"));
    }

    [TestCase(12, "n_embed 2147483647, but its tensors imply 8 (tensor 'emb.weight' has shape [4, 8])")]
    [TestCase(8, "n_vocab 2147483647, but its tensors imply 4 (tensor 'emb.weight' has shape [4, 8])")]
    [TestCase(16, "n_layer 2147483647, but its tensors imply 1 (the last block is 'blocks.0')")]
    public void RwkvCpp_HeaderDimensionOfIntMax_IsRefusedNamingBothValues(int offset, string expected)
    {
        // Issue 16: a header claiming n_embed 2^31-1 exported fine, its fields were never compared with the tensors.
        string path = Path.Combine(_directory, "header.bin");
        RwkvCppWriter.WriteRaw(path, 4, 8, 1, 0,
            [new("emb.weight", [4, 8], 0, new byte[4 * 8 * 4]), new("blocks.0.ln1.weight", [8], 0, new byte[8 * 4])]);
        byte[] bytes = File.ReadAllBytes(path);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(offset), int.MaxValue);
        File.WriteAllBytes(path, bytes);

        var e = Assert.Throws<CheckpointFormatException>(() => RwkvCheckpoint.Open(path));

        Assert.That(e!.Message, Does.Contain("header.bin").And.Contain($"has a header that says {expected}"));
    }

    [Test]
    public void RwkvCpp_NegativeNameLength_IsRefused()
    {
        string path = Path.Combine(_directory, "name.bin");
        RwkvCppWriter.WriteRaw(path, 256, 4, 1, 0, [new("x", [4], 0, new byte[16])]);
        byte[] bytes = File.ReadAllBytes(path);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(RwkvCppWriter.HeaderSize + 4), int.MinValue);
        File.WriteAllBytes(path, bytes);

        var e = Assert.Throws<CheckpointFormatException>(() => RwkvCppReader.Open(path));

        Assert.That(e!.Message, Does.Contain("with a name of -2147483648 bytes; expected 1 to 4096"));
    }

    [Test]
    public void Safetensors_HeaderNameNotUtf8_IsCheckpointFormatNotInvalidOperation()
    {
        // Found by the fuzzer: JsonDocument parses invalid UTF-8 inside a string and throws InvalidOperationException
        // only when the name is read.
        (string header, byte[] data) = FuzzSeeds.Safetensors(_directory);
        byte[] bytes = FuzzSeeds.SafetensorsFile(_directory, header, data);
        int at = Encoding.UTF8.GetString(bytes).IndexOf("emb.weight", StringComparison.Ordinal);
        bytes[at] = 0xFF;
        string path = Path.Combine(_directory, "utf8.safetensors");
        File.WriteAllBytes(path, bytes);

        var e = Assert.Throws<CheckpointFormatException>(() => RwkvCheckpoint.Open(path));

        Assert.That(e!.Message, Does.Contain("utf8.safetensors").And.Contain("header that is not valid UTF-8"));
    }

    [Test]
    public void Safetensors_OverlappingDataOffsets_AreRefused()
    {
        string path = Path.Combine(_directory, "overlap.safetensors");
        SafetensorsWriter.WriteRaw(path,
            """{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}""", new byte[12]);

        var e = Assert.Throws<CheckpointFormatException>(() => SafetensorsReader.Open(path));

        Assert.That(e!.Message, Does.Contain("overlapping data for tensors 'a' and 'b'"));
    }

    [Test]
    public void Safetensors_ShapeWhoseSizeOverflows_IsRefused()
    {
        string path = Path.Combine(_directory, "overflow.safetensors");
        SafetensorsWriter.WriteRaw(path,
            """{"a": {"dtype": "F32", "shape": [2147483647, 2147483647, 2147483647], "data_offsets": [0, 8]}}""", new byte[8]);

        var e = Assert.Throws<CheckpointFormatException>(() => SafetensorsReader.Open(path));

        Assert.That(e!.Message, Does.Contain("declares tensor 'a' with a shape whose size overflows"));
    }

    [Test]
    public void Safetensors_HeaderLengthOf2Pow63_IsRefusedBeforeAllocating()
    {
        string path = Path.Combine(_directory, "length.safetensors");
        File.WriteAllBytes(path, [.. BitConverter.GetBytes(long.MaxValue), .. "{}"u8]);

        var e = Assert.Throws<CheckpointFormatException>(() => SafetensorsReader.Open(path));

        Assert.That(e!.Message, Does.Contain("declares a 9223372036854775807-byte safetensors header, more than the 100 MB allowed"));
    }

    [Test]
    public void ShardIndex_ShardPathOutsideTheFolder_IsRefused()
    {
        string path = Path.Combine(_directory, "model.safetensors.index.json");
        File.WriteAllText(path, """{"weight_map": {"emb.weight": "../../etc/passwd"}}""");

        var e = Assert.Throws<CheckpointFormatException>(() => RwkvCheckpoint.Open(path));

        Assert.That(e!.Message, Does.Contain("maps tensor 'emb.weight' to '../../etc/passwd'; shards must be plain file names"));
    }

    // A state dict of one float32 tensor (default 'w') over storage '0' of numel elements.
    private static byte[] StatePickle(long numel, long[] shape, string name = "w")
    {
        long[] strides = [.. shape.Select(_ => 1L)];
        return new PickleWriter().Proto(2).EmptyDict().Unicode(name).Global("torch._utils", "_rebuild_tensor_v2")
            .Mark().Mark().Unicode("storage").Global("torch", "FloatStorage").Unicode("0").Unicode("cpu").Int(numel).Tuple()
            .BinPersId().Int(0).IntTuple(shape).IntTuple(strides).False().Global("collections", "OrderedDict").EmptyTuple().Reduce()
            .Tuple().Reduce().SetItem().Stop().ToArray();
    }

    private string WritePth(byte[] pickle, params (string Name, byte[] Data)[] storages)
    {
        string path = Path.Combine(_directory, "corpus.pth");
        WriteZip(path, [(Pickle, pickle), .. storages], new ZipOptions());
        return path;
    }
}
