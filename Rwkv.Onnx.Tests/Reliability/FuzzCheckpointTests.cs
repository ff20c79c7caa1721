using System.Buffers.Binary;
using System.Text;
using Rwkv.Onnx.Export.Checkpoints;
using Rwkv.Onnx.Tests.Fixtures;
using static Rwkv.Onnx.Tests.Fixtures.TorchZipWriter;

namespace Rwkv.Onnx.Tests.Reliability;

/// <summary>
/// Fuzzes every checkpoint reader through <see cref="RwkvCheckpoint.Open"/> (content detection, then the reader,
/// then the canonical layout) and reads every tensor of what opens: the only allowed failure is a
/// <see cref="CheckpointFormatException"/> (and <see cref="FileNotFoundException"/> for a shard an index names).
/// Case counts scale with <see cref="FuzzHarness.ScaleVariable"/>.
/// </summary>
[TestFixture]
public sealed class FuzzCheckpointTests
{
    private string _directory = "";

    [SetUp]
    public void SetUp()
    {
        _directory = Path.Combine(Path.GetTempPath(), "rwkv-onnx-fuzz", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_directory);
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_directory, recursive: true);

    private Action<FuzzCase> OpenAndReadAll(string fileName)
    {
        string path = Path.Combine(_directory, fileName);
        return c =>
        {
            File.WriteAllBytes(path, c.Bytes);
            FuzzSeeds.OpenAndReadAll(path);
        };
    }

    [Test]
    public void RwkvCpp_SyntheticEveryTypeCode_OnlyCheckpointFormatException()
    {
        (byte[] seed, int[] boundaries) = FuzzSeeds.RwkvCpp(_directory);
        Assert.DoesNotThrow(() => FuzzSeeds.OpenAndReadAll(Path.Combine(_directory, "seed-rwkvcpp.bin")), "the seed must be valid");

        FuzzHarness.Run("rwkv.cpp synthetic", FuzzHarness.Mutate(seed, FuzzHarness.Count(1500), 101, boundaries),
            OpenAndReadAll("case.bin"), typeof(CheckpointFormatException));
    }

    [Test]
    public void RwkvCpp_RealQuantizedFixture_OnlyCheckpointFormatException()
    {
        byte[] seed = File.ReadAllBytes(SharedFixtures.RwkvCppModel("4v0-660K", "Q5_1"));
        int[] boundaries = FuzzSeeds.RwkvCppBoundaries(seed);

        FuzzHarness.Run("rwkv.cpp 4v0 Q5_1 fixture", FuzzHarness.Mutate(seed, FuzzHarness.Count(40), 102, boundaries.Where((_, i) => i % 3 == 0).ToArray()),
            OpenAndReadAll("case.bin"), typeof(CheckpointFormatException));
    }

    [TestCase(false, false, TestName = "TorchZip_Stored_OnlyCheckpointFormatException")]
    [TestCase(true, false, TestName = "TorchZip_Deflated_OnlyCheckpointFormatException")]
    [TestCase(false, true, TestName = "TorchZip_Zip64_OnlyCheckpointFormatException")]
    public void TorchZip_Synthetic(bool deflate, bool zip64)
    {
        (byte[] seed, int[] boundaries) = FuzzSeeds.TorchZip(_directory, new ZipOptions(Deflate: deflate, Zip64: zip64));
        Assert.DoesNotThrow(() => FuzzSeeds.OpenAndReadAll(Path.Combine(_directory, "seed.pth")), "the seed must be valid");

        FuzzHarness.Run($"pth zip (deflate {deflate}, zip64 {zip64})", FuzzHarness.Mutate(seed, FuzzHarness.Count(600), 201 + (deflate ? 1 : 0) + (zip64 ? 2 : 0), boundaries),
            OpenAndReadAll("case.pth"), typeof(CheckpointFormatException));
    }

    [Test]
    public void TorchZip_MutatedPickleInAValidZip_OnlyCheckpointFormatException()
    {
        // The zip's CRC would reject most pickle mutations; re-wrapping each mutated pickle in a valid zip lets
        // them reach the unpickler, the view checks and the strided reads.
        (TensorView[] views, Dictionary<string, Storage> storages) = FuzzSeeds.StateDict();
        byte[] pickle = PickleWriter.StateDict(views, storages);
        int[] opcodes = [.. Enumerable.Range(0, pickle.Length).Where(i => pickle[i] is (byte)'X' or (byte)'K' or (byte)'M' or (byte)'J' or 0x8a or (byte)'(' or (byte)'t')];

        FuzzHarness.Run("pth pickle", FuzzHarness.Mutate(pickle, FuzzHarness.Count(1500), 204, opcodes), c =>
        {
            FuzzSeeds.TorchZip(_directory, new ZipOptions(), c.Bytes);
            FuzzSeeds.OpenAndReadAll(Path.Combine(_directory, "seed.pth"));
        }, typeof(CheckpointFormatException));
    }

    [Test]
    public void TorchZip_RealFp16Fixture_OnlyCheckpointFormatException()
    {
        byte[] seed = File.ReadAllBytes(SharedFixtures.Pth("4v0-660K", "fp16"));
        int[] boundaries = FuzzSeeds.ZipBoundaries(seed);

        FuzzHarness.Run("pth 4v0 fp16 fixture", FuzzHarness.Mutate(seed, FuzzHarness.Count(40), 205, [.. boundaries.Where((_, i) => i % 7 == 0)]),
            OpenAndReadAll("case.pth"), typeof(CheckpointFormatException));
    }

    [Test]
    public void Safetensors_Bytes_OnlyCheckpointFormatException()
    {
        (string header, byte[] data) = FuzzSeeds.Safetensors(_directory);
        byte[] seed = FuzzSeeds.SafetensorsFile(_directory, header, data);
        int headerEnd = 8 + (int)BinaryPrimitives.ReadInt64LittleEndian(seed);

        FuzzHarness.Run("safetensors bytes", FuzzHarness.Mutate(seed, FuzzHarness.Count(800), 301, [0, 8, headerEnd]),
            OpenAndReadAll("case.safetensors"), typeof(CheckpointFormatException));
    }

    [Test]
    public void Safetensors_HeaderJson_OnlyCheckpointFormatException()
    {
        (string header, byte[] data) = FuzzSeeds.Safetensors(_directory);
        string path = Path.Combine(_directory, "case.safetensors");

        FuzzHarness.Run("safetensors header JSON", FuzzSeeds.MutateJson(header, FuzzHarness.Count(800), 302), c =>
        {
            SafetensorsWriter.WriteRaw(path, Encoding.UTF8.GetString(c.Bytes), data);
            FuzzSeeds.OpenAndReadAll(path);
        }, typeof(CheckpointFormatException));
    }

    [Test]
    public void ShardIndex_Json_OnlyCheckpointFormatOrFileNotFoundException()
    {
        FuzzSeeds.Safetensors(_directory);
        File.Copy(Path.Combine(_directory, "seed.safetensors"), Path.Combine(_directory, "model-00001-of-00002.safetensors"));
        SafetensorsWriter.Write(Path.Combine(_directory, "model-00002-of-00002.safetensors"),
            [new("head.weight", TensorDType.Float32, [2, 3], [1, 2, 3, 4, 5, 6])]);
        string index = FuzzSeeds.Json(new
        {
            metadata = new { total_size = 300 },
            weight_map = new Dictionary<string, string>
            {
                ["emb.weight"] = "model-00001-of-00002.safetensors",
                ["blocks.0.ln1.weight"] = "model-00001-of-00002.safetensors",
                ["head.weight"] = "model-00002-of-00002.safetensors",
            },
        });
        string path = Path.Combine(_directory, "model.safetensors.index.json");
        File.WriteAllText(path, index);
        Assert.DoesNotThrow(() => FuzzSeeds.OpenAndReadAll(path), "the seed must be valid");

        IEnumerable<FuzzCase> cases = FuzzSeeds.MutateJson(index, FuzzHarness.Count(300), 401)
            .Concat(FuzzHarness.Mutate(Encoding.UTF8.GetBytes(index), FuzzHarness.Count(300), 402));
        FuzzHarness.Run("shard index", cases, c =>
        {
            File.WriteAllBytes(path, c.Bytes);
            FuzzSeeds.OpenAndReadAll(path);
        }, typeof(CheckpointFormatException), typeof(FileNotFoundException));
    }

    [Test]
    public void ShardIndex_TorchZipShards_OnlyCheckpointFormatOrFileNotFoundException()
    {
        // pytorch_model.bin.index.json over torch.save shards (ShardedCheckpointReader); the bytes of the first shard are fuzzed too.
        (byte[] shard, int[] boundaries) = FuzzSeeds.TorchZip(_directory, new ZipOptions());
        string first = Path.Combine(_directory, "pytorch_model-00001-of-00002.bin");
        File.Move(Path.Combine(_directory, "seed.pth"), first);
        WriteStateDict(Path.Combine(_directory, "pytorch_model-00002-of-00002.bin"),
            [TensorView.Contiguous("head.weight", "0", 2, 3)], new Dictionary<string, Storage> { ["0"] = new(TensorDType.Float32, [1, 2, 3, 4, 5, 6]) });
        string index = FuzzSeeds.Json(new
        {
            weight_map = new Dictionary<string, string>
            {
                ["blocks.0.att.key.weight"] = "pytorch_model-00001-of-00002.bin",
                ["blocks.0.att.value.weight"] = "pytorch_model-00001-of-00002.bin",
                ["head.weight"] = "pytorch_model-00002-of-00002.bin",
            },
        });
        string path = Path.Combine(_directory, "pytorch_model.bin.index.json");
        File.WriteAllText(path, index);
        Assert.DoesNotThrow(() => FuzzSeeds.OpenAndReadAll(path), "the seed must be valid");

        FuzzHarness.Run("torch shard index", FuzzSeeds.MutateJson(index, FuzzHarness.Count(200), 403), c =>
        {
            File.WriteAllBytes(path, c.Bytes);
            FuzzSeeds.OpenAndReadAll(path);
        }, typeof(CheckpointFormatException), typeof(FileNotFoundException));
        File.WriteAllText(path, index);
        FuzzHarness.Run("torch shard bytes", FuzzHarness.Mutate(shard, FuzzHarness.Count(200), 404, boundaries), c =>
        {
            File.WriteAllBytes(first, c.Bytes);
            FuzzSeeds.OpenAndReadAll(path);
        }, typeof(CheckpointFormatException));
    }

    [Test]
    public void HuggingFaceConfig_Json_OnlyCheckpointFormatException()
    {
        string fixture = Path.Combine(SharedFixtures.FixturesDirectory, "hf", "rwkv-4-tiny-660K");
        File.Copy(Path.Combine(fixture, "model.safetensors"), Path.Combine(_directory, "model.safetensors"));
        string config = File.ReadAllText(Path.Combine(fixture, "config.json"));
        string path = Path.Combine(_directory, "config.json");

        IEnumerable<FuzzCase> cases = FuzzSeeds.MutateJson(config, FuzzHarness.Count(300), 501)
            .Concat(FuzzHarness.Mutate(Encoding.UTF8.GetBytes(config), FuzzHarness.Count(200), 502));
        FuzzHarness.Run("Hugging Face config.json", cases, c =>
        {
            File.WriteAllBytes(path, c.Bytes);
            using RwkvCheckpoint checkpoint = RwkvCheckpoint.Open(_directory);
        }, typeof(CheckpointFormatException));
    }

    [Test]
    public void RandomBytes_BehindEveryMagic_OnlyCheckpointFormatException()
    {
        byte[][] prefixes =
        [
            [], "fmgg"u8.ToArray(), [0x66, 0x6d, 0x67, 0x67, 101, 0, 0, 0], "PK\x03\x04"u8.ToArray(), [16, 0, 0, 0, 0, 0, 0, 0, (byte)'{'],
            "{"u8.ToArray(), [0x80, 0x02], "GGUF"u8.ToArray(),
        ];
        IEnumerable<FuzzCase> cases = FuzzHarness.RandomInputs(FuzzHarness.Count(400), 601)
            .Select((c, i) => c with { Description = $"prefix {i % prefixes.Length}, {c.Description}", Bytes = [.. prefixes[i % prefixes.Length], .. c.Bytes] });
        FuzzHarness.Run("random bytes", cases, OpenAndReadAll("case.bin"), typeof(CheckpointFormatException));
    }
}
