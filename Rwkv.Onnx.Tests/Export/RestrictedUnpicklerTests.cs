using Rwkv.Onnx.Export.Checkpoints;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Export;

[TestFixture]
public sealed class RestrictedUnpicklerTests
{
    private const string Path = "model.pth";
    private const string Entry = "archive/data.pkl";

    private static readonly Dictionary<string, TorchZipWriter.Storage> s_storages = new()
    {
        ["0"] = new(TensorDType.Float32, new float[12]),
        ["1"] = new(TensorDType.BFloat16, new float[6]),
    };

    private static readonly TorchZipWriter.TensorView[] s_views =
    [
        TorchZipWriter.TensorView.Contiguous("emb.weight", "0", 3, 4),
        new("blocks.0.att.w1", "1", 1, [2, 2], [1, 3]),
    ];

    private static object? Load(byte[] pickle) => RestrictedUnpickler.Load(pickle, Path, Entry);

    private static CheckpointFormatException Refused(byte[] pickle)
    {
        CheckpointFormatException? e = Assert.Throws<CheckpointFormatException>(() => Load(pickle));
        Assert.That(e!.Path, Is.EqualTo(Path));
        Assert.That(e.Message, Does.Contain(Path).And.Contain(Entry));
        return e;
    }

    [Test]
    public void Load_TorchSaveStateDict_ReturnsTensorReferencesInOrder()
    {
        object? root = Load(PickleWriter.StateDict(s_views, s_storages));

        PickleDict dict = root as PickleDict ?? throw new AssertionException("root is not a dict");
        Assert.That(dict.Entries.Select(e => e.Key), Is.EqualTo(new[] { "emb.weight", "blocks.0.att.w1" }));
        var emb = (TorchTensorReference)dict.Entries[0].Value!;
        var w1 = (TorchTensorReference)dict.Entries[1].Value!;
        using (Assert.EnterMultipleScope())
        {
            Assert.That(emb.Storage, Is.EqualTo(new TorchStorageReference("0", TensorDType.Float32, "cpu", 12)));
            Assert.That((emb.StorageOffset, emb.Shape, emb.Strides), Is.EqualTo((0L, new long[] { 3, 4 }, new long[] { 4, 1 })));
            Assert.That(w1.Storage, Is.EqualTo(new TorchStorageReference("1", TensorDType.BFloat16, "cpu", 6)));
            Assert.That((w1.StorageOffset, w1.Shape, w1.Strides), Is.EqualTo((1L, new long[] { 2, 2 }, new long[] { 1, 3 })));
        }
    }

    [Test]
    public void Load_StateDictAsOrderedDictWithMetadata_ReadsItsItems()
    {
        // state_dict() pickles as OrderedDict() + SETITEMS + BUILD({'_metadata': OrderedDict(...)}).
        byte[] items = PickleWriter.StateDict(s_views, s_storages, orderedDict: true);
        var w = new PickleWriter().Raw(items[..^1]) // drop STOP
            .EmptyDict().Unicode("_metadata").Global("collections", "OrderedDict").EmptyTuple().Reduce()
            .Mark().Unicode("").EmptyDict().Unicode("version").Int(1).SetItem().SetItems()
            .SetItem().Build().Stop();

        var dict = (PickleDict)Load(w.ToArray())!;

        Assert.That(dict.Entries.Select(e => e.Key), Is.EqualTo(new[] { "emb.weight", "blocks.0.att.w1" }));
    }

    [Test]
    public void Load_Protocol4Basics_ProduceTheirValues()
    {
        byte[] body = new PickleWriter()
            .EmptyList().Memoize()
            .ShortUnicode("héllo").Append()
            .Mark().BinFloat(-2.5).Long1(-129).Long1(1L << 40).Int(70000).True().None().Appends()
            .BinGet(0).Append() // the list contains itself: memo returns the same object
            .Stop().ToArray();
        byte[] pickle = new PickleWriter().Proto(4).Frame((ulong)body.Length).Raw(body).ToArray();

        var list = (List<object?>)Load(pickle)!;

        Assert.That(list, Has.Count.EqualTo(8));
        using (Assert.EnterMultipleScope())
        {
            Assert.That(list[..7], Is.EqualTo(new object?[] { "héllo", -2.5, -129L, 1L << 40, 70000L, true, null }));
            Assert.That(list[7], Is.SameAs(list));
        }
    }

    [Test]
    public void Load_StackGlobalOfAllowedName_IsAccepted()
    {
        byte[] pickle = new PickleWriter().Proto(4).ShortUnicode("collections").ShortUnicode("OrderedDict").StackGlobal()
            .EmptyTuple().Reduce().Stop().ToArray();

        Assert.That(Load(pickle), Is.InstanceOf<PickleDict>());
    }

    [Test]
    public void Load_DictWithRepeatedKey_KeepsPositionAndLastValue()
    {
        byte[] pickle = new PickleWriter().Proto(2).Mark().Unicode("a").Int(1).Unicode("b").Int(2).Unicode("a").Int(3).Op((byte)'d').Stop().ToArray();

        var dict = (PickleDict)Load(pickle)!;

        Assert.That(dict.Entries.Select(e => (e.Key, e.Value)), Is.EqualTo(new (object, object?)[] { ("a", 3L), ("b", 2L) }));
    }

    [TestCase("os", "system")]
    [TestCase("builtins", "eval")]
    [TestCase("posix", "system")]
    [TestCase("torch.storage", "_load_from_bytes")]
    [TestCase("torch._utils", "_rebuild_parameter")]
    [TestCase("__builtin__", "exec")]
    public void Load_GlobalOutsideAllowList_IsRefusedNamingIt(string module, string name)
    {
        // The classic payload: GLOBAL os.system, ('echo pwned',), REDUCE.
        byte[] pickle = new PickleWriter().Proto(2).Global(module, name).Unicode("echo pwned").Tuple1().Reduce().Stop().ToArray();

        CheckpointFormatException e = Refused(pickle);

        Assert.That(e.Message, Does.Contain($"'{module}.{name}'").And.Contain("never executes code").And.Contain("allow-list"));
    }

    [Test]
    public void Load_StackGlobalOsSystem_IsRefused()
    {
        byte[] pickle = new PickleWriter().Proto(4).ShortUnicode("os").ShortUnicode("system").StackGlobal()
            .ShortUnicode("id").Tuple1().Reduce().Stop().ToArray();

        Assert.That(Refused(pickle).Message, Does.Contain("'os.system'").And.Contain("never executes code"));
    }

    [Test]
    public void Load_ReduceOnAllowedClassThatIsNotCallable_IsRefused()
    {
        // torch.FloatStorage is allowed as a persistent-id type tag, never as something to call.
        byte[] pickle = new PickleWriter().Proto(2).Global("torch", "FloatStorage").Int(10).Tuple1().Reduce().Stop().ToArray();

        CheckpointFormatException e = Refused(pickle);

        Assert.That(e.Message, Does.Contain("calls the storage class 'torch.FloatStorage'").And.Contain("never executes code"));
    }

    [Test]
    public void Load_ReduceOnAString_IsRefused()
    {
        byte[] pickle = new PickleWriter().Proto(2).Unicode("os.system").Unicode("id").Tuple1().Reduce().Stop().ToArray();

        Assert.That(Refused(pickle).Message, Does.Contain("REDUCE").And.Contain("never executes code"));
    }

    [TestCase("LongStorage")]
    [TestCase("DoubleStorage")]
    public void Load_UnsupportedStorageType_NamesTheDType(string storage)
    {
        byte[] pickle = new PickleWriter().Proto(2).Mark().Unicode("storage").Global("torch", storage).Unicode("0").Unicode("cpu").Int(4).Tuple().BinPersId().Stop().ToArray();

        Assert.That(Refused(pickle).Message, Does.Contain($"'torch.{storage}'").And.Contain("float32, float16 and bfloat16"));
    }

    [TestCase(0x81, "NEWOBJ")]
    [TestCase((byte)'i', "INST")]
    [TestCase((byte)'o', "OBJ")]
    [TestCase(0x82, "EXT")]
    [TestCase((byte)'I', "protocol-0")]
    [TestCase(0xff, "0xff")]
    public void Load_UnsupportedOpcode_IsRefusedNamingIt(int opcode, string expected)
    {
        byte[] pickle = new PickleWriter().Proto(2).Mark().Op((byte)opcode).Stop().ToArray();

        Assert.That(Refused(pickle).Message, Does.Contain(expected).And.Contain("byte 3"));
    }

    [Test]
    public void Load_ProtocolNewerThanFive_IsRefused()
    {
        Assert.That(Refused(new PickleWriter().Proto(6).None().Stop().ToArray()).Message, Does.Contain("protocol 6"));
    }

    [Test]
    public void Load_RebuildTensorWithBadArguments_IsRefused()
    {
        PickleWriter Pid(PickleWriter w) => w.Mark().Unicode("storage").Global("torch", "FloatStorage").Unicode("0").Unicode("cpu").Int(4).Tuple().BinPersId();
        byte[] fiveArguments = Pid(new PickleWriter().Proto(2).Global("torch._utils", "_rebuild_tensor_v2").Mark())
            .Int(0).IntTuple([4]).IntTuple([1]).False().Tuple().Reduce().Stop().ToArray();
        byte[] sizesAndStridesDiffer = Pid(new PickleWriter().Proto(2).Global("torch._utils", "_rebuild_tensor_v2").Mark())
            .Int(0).IntTuple([2, 2]).IntTuple([1]).False().Global("collections", "OrderedDict").EmptyTuple().Reduce().Tuple().Reduce().Stop().ToArray();
        byte[] notAStorage = new PickleWriter().Proto(2).Global("torch._utils", "_rebuild_tensor_v2").Mark()
            .Unicode("x").Int(0).IntTuple([2]).IntTuple([1]).False().Global("collections", "OrderedDict").EmptyTuple().Reduce().Tuple().Reduce().Stop().ToArray();

        using (Assert.EnterMultipleScope())
        {
            Assert.That(Refused(fiveArguments).Message, Does.Contain("5 arguments"));
            Assert.That(Refused(sizesAndStridesDiffer).Message, Does.Contain("2 sizes but 1 strides"));
            Assert.That(Refused(notAStorage).Message, Does.Contain("where a storage belongs"));
        }
    }

    [Test]
    public void Load_MalformedPersistentId_IsRefused()
    {
        byte[] pickle = new PickleWriter().Proto(2).Unicode("storage").Tuple1().BinPersId().Stop().ToArray();

        Assert.That(Refused(pickle).Message, Does.Contain("persistent id"));
    }

    [Test]
    public void Load_SameStorageKeyWithDifferentSizes_IsRefused()
    {
        var w = new PickleWriter().Proto(2);
        foreach (int count in (int[])[4, 5])
        {
            w.Mark().Unicode("storage").Global("torch", "FloatStorage").Unicode("0").Unicode("cpu").Int(count).Tuple().BinPersId();
        }
        byte[] pickle = w.Tuple2().Stop().ToArray();

        Assert.That(Refused(pickle).Message, Does.Contain("storage '0' twice"));
    }

    [TestCase(new byte[] { 0x80, 2, 0x86, (byte)'.' }, "pops more values")] // TUPLE2 on an empty stack
    [TestCase(new byte[] { 0x80, 2, (byte)'h', 7, (byte)'.' }, "memo entry 7")] // BINGET of nothing
    [TestCase(new byte[] { 0x80, 2, (byte)'t', (byte)'.' }, "MARK")] // TUPLE without MARK
    [TestCase(new byte[] { 0x80, 2, (byte)'K', 1, (byte)'K', 2, (byte)'u', (byte)'.' }, "MARK")] // SETITEMS without MARK
    [TestCase(new byte[] { 0x80, 2, (byte)'K', 1, (byte)'(', (byte)'K', 1, (byte)'K', 2, (byte)'u', (byte)'.' }, "SETITEMS to a int 1")]
    [TestCase(new byte[] { 0x80, 2, (byte)'K', 1, (byte)'K', 2, (byte)'.' }, "values left on the stack")]
    [TestCase(new byte[] { 0x80, 2, (byte)'(', (byte)'K', 1, (byte)'.' }, "values left on the stack")]
    [TestCase(new byte[] { 0x80, 2, (byte)'}', (byte)'(', (byte)'K', 1, (byte)'u', (byte)'.' }, "odd number")]
    public void Load_CorruptStructure_IsRefused(byte[] pickle, string expected)
    {
        Assert.That(Refused(pickle).Message, Does.Contain(expected));
    }

    [Test]
    public void Load_HugeDeclaredLengths_FailWithoutAllocating()
    {
        // A BINUNICODE of 4 GB − 1, BINUNICODE8 and FRAME of 2^63: checked against the 20-odd remaining bytes first.
        byte[] unicode = [0x80, 2, (byte)'X', 0xff, 0xff, 0xff, 0xff, (byte)'a', (byte)'.'];
        byte[] unicode8 = [0x80, 4, 0x8d, 0, 0, 0, 0, 0, 0, 0, 0x80, (byte)'a', (byte)'.'];
        byte[] frame = [0x80, 4, 0x95, 0, 0, 0, 0, 0, 0, 0, 0x80, (byte)'N', (byte)'.'];
        byte[] long4 = [0x80, 2, 0x8b, 0xff, 0xff, 0xff, 0x7f, 1, (byte)'.'];

        using (Assert.EnterMultipleScope())
        {
            Assert.That(Refused(unicode).Message, Does.Contain("truncated"));
            Assert.That(Refused(unicode8).Message, Does.Contain("truncated"));
            Assert.That(Refused(frame).Message, Does.Contain("frame longer"));
            Assert.That(Refused(long4).Message, Does.Contain("truncated"));
        }
    }

    [Test]
    public void Load_EveryTruncationOfAStateDict_IsRefusedAsTruncated()
    {
        byte[] pickle = PickleWriter.StateDict(s_views, s_storages);

        using (Assert.EnterMultipleScope())
        {
            for (int length = 0; length < pickle.Length; length++)
            {
                CheckpointFormatException? e = Assert.Throws<CheckpointFormatException>(() => Load(pickle[..length]), $"length {length}");
                Assert.That(e?.Message, Does.Contain("truncated"), $"length {length}");
            }
        }
    }

    [Test]
    public void Load_RandomCorruptionsOfAStateDict_FailOnlyWithCheckpointFormatException()
    {
        byte[] pickle = PickleWriter.StateDict(s_views, s_storages);
        var random = new Random(1234);
        int refused = 0, accepted = 0;
        for (int trial = 0; trial < 3000; trial++)
        {
            byte[] corrupt = (byte[])pickle.Clone();
            for (int flips = 1 + random.Next(3); flips > 0; flips--)
            {
                corrupt[random.Next(corrupt.Length)] = (byte)random.Next(256);
            }
            try
            {
                Load(corrupt);
                accepted++;
            }
            catch (CheckpointFormatException)
            {
                refused++;
            }
        }
        // Any other exception type fails the test by escaping. Most corruptions must be caught.
        Assert.That(refused, Is.GreaterThan(accepted), $"{refused} refused, {accepted} accepted");
    }

    [Test]
    public void Load_RandomBytes_FailOnlyWithCheckpointFormatException()
    {
        var random = new Random(99);
        for (int trial = 0; trial < 2000; trial++)
        {
            byte[] bytes = new byte[1 + random.Next(64)];
            random.NextBytes(bytes);
            try
            {
                Load(bytes);
            }
            catch (CheckpointFormatException)
            {
            }
        }
        Assert.Pass("2000 random inputs: none crashed, hung or threw another exception type.");
    }
}
