using System.Buffers.Binary;
using System.Text;
using Rwkv.Onnx.Export.Checkpoints;
using Rwkv.Onnx.Tests.Fixtures;
using static Rwkv.Onnx.Tests.Fixtures.TorchZipWriter;

namespace Rwkv.Onnx.Tests.Export;

[TestFixture]
public sealed class TorchZipReaderTests
{
    // Every .pth fixture (fixtures README §2): model and dtype.
    public static readonly TestCaseData[] PthFixtures =
    [
        new("4v0-660K", "fp32"), new("4v0-660K", "fp16"), new("5v1-730K", "fp32"), new("5v2-730K", "fp32"),
        new("6v0-1m", "fp32"), new("6v0-1m", "bf16"), new("7v0-834K", "fp32"), new("7v0-834K", "bf16"),
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

    [TestCaseSource(nameof(PthFixtures))]
    public void Open_PthFixture_EqualsRwkvCppFp32CanonicalTensors(string model, string dtype)
    {
        // The .pth files were made by inverting rwkv.cpp's converter; its FP32 .bin mapped back to the canonical
        // layout must give the same tensors: bit for bit in fp32 (also the decays, which RwkvCppLayout inverts
        // with log), and the fp32 values rounded to the storage type in the 16-bit files.
        using RwkvCheckpoint pth = RwkvCheckpoint.Open(SharedFixtures.Pth(model, dtype));
        using RwkvCheckpoint bin = RwkvCheckpoint.Open(SharedFixtures.RwkvCppModel(model, "FP32"));

        Assert.That(pth.Format, Is.EqualTo("pth"));
        TensorDType expectedType = dtype switch { "fp16" => TensorDType.Float16, "bf16" => TensorDType.BFloat16, _ => TensorDType.Float32 };
        Assert.That(pth.Get("blocks.0.att.key.weight").DType, Is.EqualTo(expectedType));
        CanonicalAssert.SameTensors(pth, bin);
    }

    [Test]
    public void Open_7v0Bf16Fixture_ReadsSharedStoragesAndTransposedViews()
    {
        using TorchZipReader reader = TorchZipReader.Open(SharedFixtures.Pth("7v0-834K", "bf16"));

        // w1/a1/g1 in every layer and v1 in layers 1-11 are transposed views (fixtures README): 4 * 12 - 1.
        StridedTensor[] views = [.. reader.Tensors.Cast<StridedTensor>().Where(t => !t.IsContiguous)];
        Assert.That(views.Select(v => v.Name.Split('.')[^1]).Distinct(), Is.EquivalentTo(new[] { "w1", "a1", "v1", "g1" }));
        Assert.That(views, Has.Length.EqualTo(47));
        Assert.That(reader.ArchiveName, Is.EqualTo("tiny-rwkv-7v0-834K-bf16"));
    }

    public static IEnumerable<TestCaseData> ViewCases()
    {
        foreach (TensorDType dtype in (TensorDType[])[TensorDType.Float32, TensorDType.Float16, TensorDType.BFloat16])
        {
            foreach ((bool deflate, bool zip64, bool align) in ((bool, bool, bool)[])[(false, false, true), (true, false, true), (false, true, true), (false, false, false)])
            {
                yield return new TestCaseData(dtype, deflate, zip64, align);
            }
        }
    }

    [TestCaseSource(nameof(ViewCases))]
    public void ReadFloat32_Views_GatherOffsetsAndStrides(TensorDType dtype, bool deflate, bool zip64, bool align)
    {
        var options = new ZipOptions(deflate, zip64, align);
        // Storage values are their own indices (exact in every type), so a view's element is offset + Σ index·stride.
        TensorView[] views =
        [
            new("offset", "0", 5, [2, 3], [3, 1]),
            new("transposed", "0", 0, [4, 6], [1, 4]),
            new("permuted", "0", 0, [4, 3, 2], [1, 4, 12]),
            new("expanded", "0", 20, [3, 4], [0, 1]),
            new("stepped", "0", 2, [3], [5]),
            new("scalar", "0", 7, [], []),
            new("empty", "0", 0, [0, 5], [5, 1]),
            new("other", "1", 0, [2, 2], [2, 1]),
        ];
        var storages = new Dictionary<string, Storage>
        {
            ["0"] = new(dtype, [.. Enumerable.Range(0, 24).Select(i => (float)i)]),
            ["1"] = new(dtype, [-1, -2, -3, -4]),
        };
        string path = Path.Combine(_directory, "views.pth");
        WriteStateDict(path, views, storages, options);

        using TorchZipReader reader = TorchZipReader.Open(path);

        Assert.That(reader.Tensors.Select(t => t.Name), Is.EqualTo(views.Select(v => v.Name)));
        using (Assert.EnterMultipleScope())
        {
            foreach (TensorView view in views)
            {
                CheckpointTensor t = reader.Tensors.Single(x => x.Name == view.Name);
                Assert.That(t.Shape, Is.EqualTo(view.Shape), view.Name);
                Assert.That(t.DType, Is.EqualTo(dtype), view.Name);
                float[] expected = view.StorageKey == "0" ? StridedIndices(view) : [-1, -2, -3, -4];
                Assert.That(t.ReadFloat32(), Is.EqualTo(expected), view.Name);
            }
            // Reading an earlier part of a storage after a later one (a deflate stream restarts).
            Assert.That(reader.Tensors[0].ReadFloat32(), Is.EqualTo(new float[] { 5, 6, 7, 8, 9, 10 }));
        }
    }

    [Test]
    public void ReadFloat32_LargeTransposedView_GathersAcrossWindows()
    {
        // 300 x 300 fp16 = 90,000 elements: more than one 65,536-element read window.
        const int N = 300;
        var storages = new Dictionary<string, Storage> { ["0"] = new(TensorDType.Float16, [.. Enumerable.Range(0, N * N).Select(i => (float)(i % 1024))]) };
        string path = Path.Combine(_directory, "large.pth");
        WriteStateDict(path, [new("t", "0", 0, [N, N], [1, N])], storages);

        using TorchZipReader reader = TorchZipReader.Open(path);
        float[] values = reader.Tensors[0].ReadFloat32();

        float[] expected = new float[N * N];
        for (int i = 0; i < N; i++)
        {
            for (int j = 0; j < N; j++)
            {
                expected[(i * N) + j] = (i + (j * N)) % 1024;
            }
        }
        Assert.That(values, Is.EqualTo(expected));
    }

    [Test]
    public void Open_LargeCheckpoint_ReadsOnlyItsDirectory()
    {
        // 32 MB of storages; opening must not touch them (tensors are read lazily, in place).
        var storages = new Dictionary<string, Storage>
        {
            ["0"] = new(TensorDType.Float32, new float[4 << 20]),
            ["1"] = new(TensorDType.BFloat16, new float[8 << 20]),
        };
        string path = Path.Combine(_directory, "large.pth");
        WriteStateDict(path, [TensorView.Contiguous("a", "0", 4 << 20), TensorView.Contiguous("b", "1", 8 << 20), new("c", "1", 5, [4], [1])], storages);

        long before = GC.GetAllocatedBytesForCurrentThread();
        using RwkvCheckpoint checkpoint = RwkvCheckpoint.Open(path);
        long opened = GC.GetAllocatedBytesForCurrentThread() - before;
        float[] small = checkpoint.Get("c").ReadFloat32();
        long read = GC.GetAllocatedBytesForCurrentThread() - before - opened;

        Assert.That(new FileInfo(path).Length, Is.GreaterThan(32L << 20));
        Assert.That(opened, Is.LessThan(256 << 10), "bytes allocated by Open");
        Assert.That(read, Is.LessThan(256 << 10), "bytes allocated reading a 4-element view");
        Assert.That(small, Has.Length.EqualTo(4));
    }

    [Test]
    public void Open_ThroughRwkvCheckpoint_KeepsBlinkDLNamesAndFormatPth()
    {
        string path = WriteSmall();

        using RwkvCheckpoint checkpoint = RwkvCheckpoint.Open(path);

        Assert.That(checkpoint.Format, Is.EqualTo("pth"));
        Assert.That(checkpoint.Files, Is.EqualTo(new[] { path }));
        Assert.That(checkpoint.Get("blocks.0.att.w1").ReadFloat32(), Is.EqualTo(new float[] { 0, 2, 1, 3 }));
    }

    [Test]
    public void Open_StateTuningPth_IsATensorSourceForTimeStates()
    {
        // RWKV-PEFT state tuning saves only blocks.{i}.att.time_state [H, N, N], bf16 here.
        var storages = new Dictionary<string, Storage>
        {
            ["0"] = new(TensorDType.BFloat16, [.. Enumerable.Range(0, 18).Select(i => i * 0.5f)]),
            ["1"] = new(TensorDType.BFloat16, [.. Enumerable.Range(0, 18).Select(i => -i * 0.25f)]),
        };
        string path = Path.Combine(_directory, "state.pth");
        WriteStateDict(path, [TensorView.Contiguous("blocks.0.att.time_state", "0", 2, 3, 3), TensorView.Contiguous("blocks.1.att.time_state", "1", 2, 3, 3)], storages);

        using RwkvCheckpoint checkpoint = RwkvCheckpoint.Open(path);
        ITensorSource source = checkpoint;

        using (Assert.EnterMultipleScope())
        {
            Assert.That(source.TryGetTensor("blocks.1.att.time_state", out IReadOnlyList<int> shape, out float[] data), Is.True);
            Assert.That(shape, Is.EqualTo(new[] { 2, 3, 3 }));
            Assert.That(data, Is.EqualTo(storages["1"].Values));
            Assert.That(source.TryGetTensor("blocks.2.att.time_state", out IReadOnlyList<int> missingShape, out float[] missingData), Is.False);
            Assert.That((missingShape, missingData), Is.EqualTo((Array.Empty<int>(), Array.Empty<float>())));
            Assert.That(source.Description, Does.Contain(path));
        }
    }

    [Test]
    public void Open_StateDictNestedUnderStateDictKey_ReadsIt()
    {
        var storages = new Dictionary<string, Storage> { ["0"] = new(TensorDType.Float32, [1, 2]) };
        byte[] inner = PickleWriter.StateDict([TensorView.Contiguous("emb.weight", "0", 2)], storages);
        // {"epoch": 3, "state_dict": {...}}
        byte[] pickle = new PickleWriter().Proto(2).EmptyDict().Mark().Unicode("epoch").Int(3).Unicode("state_dict")
            .Raw(inner[2..^1]).SetItems().Stop().ToArray();
        string path = Path.Combine(_directory, "nested.pth");
        WriteZip(path, [("a/data.pkl", pickle), ("a/data/0", Encode(storages["0"]))], new ZipOptions());

        using TorchZipReader reader = TorchZipReader.Open(path);

        Assert.That(reader.Tensors.Single().ReadFloat32(), Is.EqualTo(new float[] { 1, 2 }));
    }

    [Test]
    public void Open_PickleNamingOsSystem_IsRefusedBeforeAnythingRuns()
    {
        byte[] pickle = new PickleWriter().Proto(2).Global("os", "system").Unicode("touch pwned").Tuple1().Reduce().Stop().ToArray();
        string path = Path.Combine(_directory, "evil.pth");
        WriteZip(path, [("evil/data.pkl", pickle), ("evil/version", "3\n"u8.ToArray())], new ZipOptions());

        CheckpointFormatException? direct = Assert.Throws<CheckpointFormatException>(() => TorchZipReader.Open(path));
        CheckpointFormatException? canonical = Assert.Throws<CheckpointFormatException>(() => RwkvCheckpoint.Open(path));

        using (Assert.EnterMultipleScope())
        {
            Assert.That(direct!.Message, Does.Contain(path).And.Contain("'os.system'").And.Contain("never executes code"));
            Assert.That(direct.Path, Is.EqualTo(path));
            Assert.That(canonical!.Message, Does.Contain("'os.system'"));
            Assert.That(File.Exists(Path.Combine(_directory, "pwned")), Is.False);
        }
    }

    [Test]
    public void Open_ViewBeyondItsStorage_NamesTheTensor()
    {
        string path = Path.Combine(_directory, "beyond.pth");
        WriteStateDict(path, [new("blocks.0.ln1.weight", "0", 20, [5], [1])], new Dictionary<string, Storage> { ["0"] = new(TensorDType.Float32, new float[24]) });

        CheckpointFormatException? e = Assert.Throws<CheckpointFormatException>(() => TorchZipReader.Open(path));

        Assert.That(e!.TensorName, Is.EqualTo("blocks.0.ln1.weight"));
        Assert.That(e.Message, Does.Contain("element 24").And.Contain("holds 24"));
    }

    [Test]
    public void Open_ExpandedViewLargerThanItsStorage_IsRefused()
    {
        // A zero-stride view may declare any number of elements over a one-element storage.
        string path = Path.Combine(_directory, "expanded.pth");
        WriteStateDict(path, [new("x", "0", 0, [1 << 20, 1 << 10], [0, 0])], new Dictionary<string, Storage> { ["0"] = new(TensorDType.Float32, [1]) });

        CheckpointFormatException? e = Assert.Throws<CheckpointFormatException>(() => TorchZipReader.Open(path));

        Assert.That(e!.Message, Does.Contain("1073741824 elements").And.Contain("expanded"));
    }

    [Test]
    public void Open_DeflatedEntryDeclaringAnImpossibleSize_IsRefused()
    {
        // Rewrite the directory's uncompressed size of the deflated data.pkl to 4 GB - 1.
        string path = WriteSmall(new ZipOptions(Deflate: true));
        byte[] bytes = File.ReadAllBytes(path);
        int header = IndexOf(bytes, [0x50, 0x4b, 0x01, 0x02]);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(header + 24), uint.MaxValue - 1);
        File.WriteAllBytes(path, bytes);

        Assert.That(Assert.Throws<CheckpointFormatException>(() => TorchZipReader.Open(path))!.Message,
            Does.Contain("'archive/data.pkl' inflates from").And.Contain("beyond what deflate can reach"));
    }

    [Test]
    public void Open_StorageEntryOfWrongSize_IsRefused()
    {
        var declared = new Dictionary<string, Storage> { ["0"] = new(TensorDType.Float32, new float[6]) };
        byte[] pickle = PickleWriter.StateDict([TensorView.Contiguous("emb.weight", "0", 6)], declared);
        string path = Path.Combine(_directory, "short.pth");
        WriteZip(path, [("a/data.pkl", pickle), ("a/data/0", new byte[20])], new ZipOptions());

        CheckpointFormatException? e = Assert.Throws<CheckpointFormatException>(() => TorchZipReader.Open(path));

        Assert.That(e!.Message, Does.Contain("'a/data/0'").And.Contain("20 bytes").And.Contain("need 24"));
    }

    [Test]
    public void Open_MissingStorageEntry_IsRefused()
    {
        var declared = new Dictionary<string, Storage> { ["0"] = new(TensorDType.Float32, new float[6]) };
        string path = Path.Combine(_directory, "missing.pth");
        WriteZip(path, [("a/data.pkl", PickleWriter.StateDict([TensorView.Contiguous("emb.weight", "0", 6)], declared))], new ZipOptions());

        Assert.That(Assert.Throws<CheckpointFormatException>(() => TorchZipReader.Open(path))!.Message, Does.Contain("no zip entry 'a/data/0'"));
    }

    [Test]
    public void Open_ZipWithoutDataPkl_SaysItIsNotATorchCheckpoint()
    {
        string path = Path.Combine(_directory, "plain.zip");
        WriteZip(path, [("readme.txt", "hello"u8.ToArray())], new ZipOptions());

        Assert.That(Assert.Throws<CheckpointFormatException>(() => RwkvCheckpoint.Open(path))!.Message, Does.Contain("not a torch.save checkpoint"));
    }

    [Test]
    public void Open_BigEndianByteOrder_IsRefused()
    {
        var storages = new Dictionary<string, Storage> { ["0"] = new(TensorDType.Float32, [1]) };
        string path = Path.Combine(_directory, "big.pth");
        WriteZip(path, [("a/data.pkl", PickleWriter.StateDict([TensorView.Contiguous("x", "0", 1)], storages)), ("a/byteorder", "big"u8.ToArray()), ("a/data/0", Encode(storages["0"]))], new ZipOptions());

        Assert.That(Assert.Throws<CheckpointFormatException>(() => TorchZipReader.Open(path))!.Message, Does.Contain("byte order 'big'"));
    }

    [Test]
    public void Open_NonTensorValue_IsRefusedNamingTheKey()
    {
        byte[] pickle = new PickleWriter().Proto(2).EmptyDict().Unicode("step").Int(5).SetItem().Stop().ToArray();
        string path = Path.Combine(_directory, "values.pth");
        WriteZip(path, [("a/data.pkl", pickle)], new ZipOptions());

        Assert.That(Assert.Throws<CheckpointFormatException>(() => TorchZipReader.Open(path))!.Message, Does.Contain("not a state dict"));
    }

    [Test]
    public void Open_CorruptPickleBytes_FailTheCrcCheck()
    {
        string path = WriteSmall();
        byte[] bytes = File.ReadAllBytes(path);
        int at = IndexOf(bytes, Encoding.UTF8.GetBytes("blocks.0.att.w1"));
        bytes[at] ^= 0x20;
        File.WriteAllBytes(path, bytes);

        CheckpointFormatException? e = Assert.Throws<CheckpointFormatException>(() => TorchZipReader.Open(path));

        Assert.That(e!.Message, Does.Contain("corrupt 'archive/data.pkl'").And.Contain("CRC-32"));
    }

    [Test]
    public void Open_UnsupportedCompressionMethod_IsRefusedNamingIt()
    {
        string path = WriteSmall(new ZipOptions(Deflate: true));
        byte[] bytes = File.ReadAllBytes(path);
        for (int at = IndexOf(bytes, [0x50, 0x4b, 0x01, 0x02]); at >= 0; at = IndexOf(bytes, [0x50, 0x4b, 0x01, 0x02], at + 4))
        {
            BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(at + 10), 12); // bzip2
        }
        File.WriteAllBytes(path, bytes);

        Assert.That(Assert.Throws<CheckpointFormatException>(() => TorchZipReader.Open(path))!.Message, Does.Contain("method 12"));
    }

    [Test]
    public void Open_CorruptDeflateStream_FailsWhenTheTensorIsRead()
    {
        var storages = new Dictionary<string, Storage> { ["0"] = new(TensorDType.Float32, [.. Enumerable.Range(0, 4096).Select(i => MathF.Sin(i))]) };
        string path = Path.Combine(_directory, "deflated.pth");
        WriteStateDict(path, [TensorView.Contiguous("x", "0", 4096)], storages, new ZipOptions(Deflate: true));
        byte[] bytes = File.ReadAllBytes(path);
        int data = IndexOf(bytes, "archive/data/0"u8.ToArray()) + "archive/data/0".Length;
        data += 4 + BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(data + 2)); // skip the alignment extra field
        for (int i = 0; i < 200; i++)
        {
            bytes[data + 5 + i] = 0xff;
        }
        File.WriteAllBytes(path, bytes);

        using TorchZipReader reader = TorchZipReader.Open(path);
        CheckpointFormatException? e = Assert.Throws<CheckpointFormatException>(() => reader.Tensors[0].ReadFloat32());

        Assert.That(e!.TensorName, Is.EqualTo("x"));
        Assert.That(e.Message, Does.Contain("'archive/data/0'"));
    }

    [Test]
    public void Open_EveryTruncation_IsRefused()
    {
        string path = WriteSmall();
        byte[] bytes = File.ReadAllBytes(path);
        string cut = Path.Combine(_directory, "cut.pth");

        using (Assert.EnterMultipleScope())
        {
            for (int length = 0; length < bytes.Length; length++)
            {
                File.WriteAllBytes(cut, bytes[..length]);
                CheckpointFormatException? e = Assert.Throws<CheckpointFormatException>(() => OpenAndReadAll(cut), $"length {length}");
                Assert.That(e?.Path, Is.EqualTo(cut), $"length {length}");
            }
        }
    }

    [TestCase(1)]
    [TestCase(1_000_000)]
    public void Open_TruncatedFixture_IsRefusedAsTruncated(int keep)
    {
        string path = Path.Combine(_directory, "cut.pth");
        File.WriteAllBytes(path, File.ReadAllBytes(SharedFixtures.Pth("7v0-834K", "bf16"))[..keep]);

        CheckpointFormatException? e = Assert.Throws<CheckpointFormatException>(() => RwkvCheckpoint.Open(path));

        Assert.That(e!.Message, Does.Contain(path).And.Contain("truncated"));
    }

    [Test]
    public void Open_EverySingleByteCorruption_FailsOnlyWithCheckpointFormatException([Values] bool deflate)
    {
        string path = WriteSmall(new ZipOptions(Deflate: deflate, Align: false));
        byte[] bytes = File.ReadAllBytes(path);
        string corrupt = Path.Combine(_directory, "corrupt.pth");
        int refused = 0;
        for (int at = 0; at < bytes.Length; at++)
        {
            byte[] copy = (byte[])bytes.Clone();
            copy[at] ^= 0xa5;
            File.WriteAllBytes(corrupt, copy);
            try
            {
                OpenAndReadAll(corrupt);
            }
            catch (CheckpointFormatException)
            {
                refused++;
            }
            // Any other exception escapes and fails the test.
        }
        // Flips in the stored tensor bytes and in fields readers ignore (times, versions) go unnoticed; structure flips do not.
        Assert.That(refused, Is.GreaterThan(bytes.Length / 4), $"{refused} of {bytes.Length} corruptions refused");
    }

    [Test]
    public void ReadFloat32_AfterDispose_ThrowsObjectDisposed()
    {
        TorchZipReader reader = TorchZipReader.Open(WriteSmall());
        CheckpointTensor tensor = reader.Tensors[0];
        reader.Dispose();

        Assert.Throws<ObjectDisposedException>(() => tensor.ReadFloat32());
    }

    private static float[] StridedIndices(TensorView view)
    {
        long count = view.Shape.Aggregate(1L, (a, b) => a * b);
        var result = new float[count];
        for (long flat = 0; flat < count; flat++)
        {
            long rest = flat, index = view.Offset;
            for (int d = view.Shape.Length - 1; d >= 0; d--)
            {
                index += rest % view.Shape[d] * view.Strides[d];
                rest /= view.Shape[d];
            }
            result[flat] = index;
        }
        return result;
    }

    private string WriteSmall(ZipOptions? options = null)
    {
        var storages = new Dictionary<string, Storage>
        {
            ["0"] = new(TensorDType.Float32, [0, 1, 2, 3]),
            ["1"] = new(TensorDType.BFloat16, [1.5f, -2, 3.25f]),
        };
        string path = Path.Combine(_directory, "small.pth");
        WriteStateDict(path, [new("blocks.0.att.w1", "0", 0, [2, 2], [1, 2]), TensorView.Contiguous("blocks.0.ln1.weight", "1", 3)], storages, options);
        return path;
    }

    private static void OpenAndReadAll(string path)
    {
        using RwkvCheckpoint checkpoint = RwkvCheckpoint.Open(path);
        foreach (CheckpointTensor t in checkpoint.Tensors.Values)
        {
            t.ReadFloat32();
        }
    }

    private static int IndexOf(byte[] haystack, byte[] needle, int start = 0) => haystack.AsSpan(start).IndexOf(needle) is int i and >= 0 ? i + start : -1;
}
