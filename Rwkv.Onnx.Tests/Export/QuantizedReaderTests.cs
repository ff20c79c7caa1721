using System.Buffers.Binary;
using Rwkv.Onnx.Export;
using Rwkv.Onnx.Export.Checkpoints;
using Rwkv.Onnx.Tests.Fixtures;
using static Rwkv.Onnx.Export.Checkpoints.RwkvCppWriter;

namespace Rwkv.Onnx.Tests.Export;

/// <summary>
/// rwkv.cpp quantized tensors: blocks built byte by byte with values worked out by hand from the layouts in the
/// fixtures README, and the Q5_0/Q5_1 fixtures against their FP32 originals.
/// </summary>
[TestFixture]
public sealed class QuantizedReaderTests
{
    public static readonly string[] Models = ["4v0-660K", "5v1-730K", "5v2-730K", "6v0-1m", "7v0-834K"];

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
    public void ReadFloat32_Q4_0Block_IsNibbleMinusEightTimesD()
    {
        // d = 0.5; qs[0] = 0xA3: element 0 = (3 - 8) * 0.5, element 16 = (10 - 8) * 0.5;
        // qs[15] = 0xF0: element 15 = (0 - 8) * 0.5, element 31 = (15 - 8) * 0.5; the rest 0x88 -> 0.
        byte[] qs = Filled(16, 0x88);
        qs[0] = 0xA3;
        qs[15] = 0xF0;
        float[] expected = new float[32];
        (expected[0], expected[16], expected[15], expected[31]) = (-2.5f, 1f, -4f, 3.5f);

        Assert.That(ReadOne(2, [.. Half(0.5f), .. qs]), Is.EqualTo(expected));
    }

    [Test]
    public void ReadFloat32_Q4_1Block_IsNibbleTimesDPlusM()
    {
        // d = 0.25, m = -1; qs[0] = 0xF0: element 0 = 0 * 0.25 - 1, element 16 = 15 * 0.25 - 1; the rest 0x44 -> 0.
        byte[] qs = Filled(16, 0x44);
        qs[0] = 0xF0;
        float[] expected = new float[32];
        (expected[0], expected[16]) = (-1f, 2.75f);

        Assert.That(ReadOne(3, [.. Half(0.25f), .. Half(-1f), .. qs]), Is.EqualTo(expected));
    }

    [Test]
    public void ReadFloat32_Q5_0Block_TakesTheFifthBitFromQh()
    {
        // d = 2; qh has every bit but 15 and 16 set, so an element with nibble 0 is q = 16 -> 0.
        // qs[0] = 0x03: element 0 = (3 | 16) - 16 = 3 -> 6; element 16 = (0 | 0) - 16 -> -32.
        // qs[15] = 0xF0: element 15 = (0 | 0) - 16 -> -32; element 31 = (15 | 16) - 16 = 15 -> 30.
        uint qh = ~((1u << 15) | (1u << 16));
        byte[] qs = new byte[16];
        qs[0] = 0x03;
        qs[15] = 0xF0;
        float[] expected = new float[32];
        (expected[0], expected[16], expected[15], expected[31]) = (6f, -32f, -32f, 30f);

        Assert.That(ReadOne(7, [.. Half(2f), .. BitConverter.GetBytes(qh), .. qs]), Is.EqualTo(expected));
    }

    [Test]
    public void ReadFloat32_Q5_1Block_IsFiveBitTimesDPlusM()
    {
        // d = 0.5, m = 1; only qh bit 5; qs[5] = 0x0F: element 5 = (15 | 16) * 0.5 + 1 = 16.5; every other q = 0 -> 1.
        byte[] qs = new byte[16];
        qs[5] = 0x0F;
        float[] expected = Enumerable.Repeat(1f, 32).ToArray();
        expected[5] = 16.5f;

        Assert.That(ReadOne(8, [.. Half(0.5f), .. Half(1f), .. BitConverter.GetBytes(1u << 5), .. qs]), Is.EqualTo(expected));
    }

    [Test]
    public void ReadFloat32_Q8_0Block_IsSignedByteTimesD()
    {
        // d = 0.125; q[0] = -128 -> -16, q[1] = 1 -> 0.125, q[31] = 127 -> 15.875.
        byte[] q = new byte[32];
        (q[0], q[1], q[31]) = (0x80, 0x01, 0x7f);
        float[] expected = new float[32];
        (expected[0], expected[1], expected[31]) = (-16f, 0.125f, 15.875f);

        Assert.That(ReadOne(9, [.. Half(0.125f), .. q]), Is.EqualTo(expected));
    }

    [Test]
    public void ReadFloat32_ManyBlocks_FollowRowMajorOrderAcrossReadChunks()
    {
        // [64, 4096] Q8_0: 8,192 blocks, more than one read chunk. Block b has d = 0.25 * (b % 7 + 1) and
        // q[j] = j - 16, so element (r, c) is in block r * 128 + c / 32 with value (c % 32 - 16) * d.
        const int Rows = 64, Cols = 4096, Blocks = Rows * Cols / 32;
        var data = new List<byte>(Blocks * 34);
        for (int b = 0; b < Blocks; b++)
        {
            data.AddRange(Half(0.25f * ((b % 7) + 1)));
            data.AddRange(Enumerable.Range(0, 32).Select(j => (byte)(sbyte)(j - 16)));
        }
        string path = Write([new RawTensor("blocks.0.att.key.weight", [Rows, Cols], 9, [.. data])]);

        using RwkvCppReader reader = RwkvCppReader.Open(path);
        float[] values = reader.Tensors[0].ReadFloat32();

        var expected = new float[Rows * Cols];
        for (int r = 0; r < Rows; r++)
        {
            for (int c = 0; c < Cols; c++)
            {
                int block = (r * (Cols / 32)) + (c / 32);
                expected[(r * Cols) + c] = ((c % 32) - 16) * 0.25f * ((block % 7) + 1);
            }
        }
        Assert.That(reader.Tensors[0].DType, Is.EqualTo(TensorDType.Q8_0));
        Assert.That(values, Is.EqualTo(expected));
    }

    [TestCase(2, "Q4_0")]
    [TestCase(7, "Q5_0")]
    public void Open_QuantizedTensorInVersion100File_IsRefusedAsRwkvCppDoes(int code, string type)
    {
        string path = Write([new RawTensor("blocks.0.att.key.weight", [1, 32], code, new byte[code == 2 ? 18 : 22])], fileVersion: 100);

        CheckpointFormatException? e = Assert.Throws<CheckpointFormatException>(() => RwkvCppReader.Open(path));

        Assert.That(e!.TensorName, Is.EqualTo("blocks.0.att.key.weight"));
        Assert.That(e.Message, Does.Contain("version-100").And.Contain(type));
    }

    [Test]
    public void Open_RowsNotAMultipleOfTheBlock_IsRefused()
    {
        string path = Write([new RawTensor("w", [2, 48], 9, new byte[3 * 34])]);

        Assert.That(Assert.Throws<CheckpointFormatException>(() => RwkvCppReader.Open(path))!.Message,
            Does.Contain("rows of 48").And.Contain("32-weight block"));
    }

    [TestCase(0)]
    [TestCase(9)]
    public void Open_DimsWhoseProductOverflows_IsRefusedAsTruncated(int typeCode)
    {
        // (2^30)^3 elements overflow a 64-bit count; the file holds 64 bytes of data.
        string path = Write([new RawTensor("w", [1 << 30, 1 << 30, 1 << 30], typeCode, new byte[64])]);

        CheckpointFormatException? e = Assert.Throws<CheckpointFormatException>(() => RwkvCppReader.Open(path));

        Assert.That(e!.TensorName, Is.EqualTo("w"));
        Assert.That(e.Message, Does.Contain("truncated"));
    }

    [TestCase(4)]
    [TestCase(5)]
    [TestCase(6)]
    public void Open_RemovedTypeCode_SaysRwkvCppRemovedIt(int code)
    {
        string path = Write([new RawTensor("w", [1, 32], code, new byte[20])]);

        Assert.That(Assert.Throws<CheckpointFormatException>(() => RwkvCppReader.Open(path))!.Message,
            Does.Contain($"type code {code}").And.Contain("removed"));
    }

    [Test]
    public void Open_UnknownTypeCode_ListsTheSupportedOnes()
    {
        string path = Write([new RawTensor("w", [1, 32], 10, new byte[36])]);

        Assert.That(Assert.Throws<CheckpointFormatException>(() => RwkvCppReader.Open(path))!.Message,
            Does.Contain("unknown type code 10").And.Contain("9 (Q8_0)"));
    }

    [Test]
    public void Open_EveryTruncationOfAQuantizedFile_IsRefused()
    {
        string path = Write(
        [
            new RawTensor("emb.weight", [2, 32], 0, new byte[2 * 32 * 4]),
            new RawTensor("blocks.0.att.key.weight", [2, 64], 8, new byte[4 * 24]),
        ]);
        byte[] bytes = File.ReadAllBytes(path);
        // The format has no tensor count: a file cut exactly after a record is a valid, smaller model (the
        // architecture check then reports the missing tensors). Every other cut is refused.
        const int RecordBoundary = 24 + 12 + 8 + 10 + (2 * 32 * 4);

        using (Assert.EnterMultipleScope())
        {
            File.WriteAllBytes(path, bytes[..RecordBoundary]);
            using (RwkvCppReader shorter = RwkvCppReader.Open(path))
            {
                Assert.That(shorter.Tensors.Select(t => t.Name), Is.EqualTo(new[] { "emb.weight" }));
            }
            for (int length = 0; length < bytes.Length; length++)
            {
                if (length == RecordBoundary)
                {
                    continue;
                }
                File.WriteAllBytes(path, bytes[..length]);
                CheckpointFormatException? e = Assert.Throws<CheckpointFormatException>(() => RwkvCheckpoint.Open(path), $"length {length}");
                Assert.That(e?.Message, Does.Contain(path), $"length {length}");
            }
        }
    }

    [Test]
    public void Open_EverySingleByteCorruptionOfAQuantizedFile_FailsOnlyWithCheckpointFormatException()
    {
        string path = Write(
        [
            new RawTensor("emb.weight", [2, 32], 0, new byte[2 * 32 * 4]),
            new RawTensor("blocks.0.att.key.weight", [2, 64], 7, new byte[4 * 22]),
            new RawTensor("blocks.0.att.value.weight", [1, 32], 9, new byte[34]),
        ]);
        byte[] bytes = File.ReadAllBytes(path);
        int refused = 0;
        for (int at = 0; at < bytes.Length; at++)
        {
            byte[] copy = (byte[])bytes.Clone();
            copy[at] ^= 0xc3;
            File.WriteAllBytes(path, copy);
            try
            {
                using RwkvCppReader reader = RwkvCppReader.Open(path);
                foreach (CheckpointTensor t in reader.Tensors)
                {
                    t.ReadFloat32();
                }
            }
            catch (CheckpointFormatException)
            {
                refused++;
            }
        }
        // Flips in data bytes (and the header's informational type) are undetectable; every structural one is refused.
        Assert.That(refused, Is.GreaterThan(0), $"{refused} of {bytes.Length} corruptions refused");
    }

    [Test]
    public void Open_Q5Fixtures_HaveTheFp32CanonicalNamesAndShapes([ValueSource(nameof(Models))] string model, [Values("Q5_0", "Q5_1")] string type)
    {
        using RwkvCheckpoint quantized = RwkvCheckpoint.Open(SharedFixtures.RwkvCppModel(model, type));
        using RwkvCheckpoint fp32 = RwkvCheckpoint.Open(SharedFixtures.RwkvCppModel(model, "FP32"));

        Assert.That(quantized.Tensors.Keys, Is.EquivalentTo(fp32.Tensors.Keys));
        using (Assert.EnterMultipleScope())
        {
            foreach ((string name, CheckpointTensor t) in fp32.Tensors)
            {
                Assert.That(quantized.Get(name).Shape, Is.EqualTo(t.Shape), name);
            }
        }
    }

    [Test]
    public void ReadFloat32_Q5Fixtures_StayWithinOneQuantizationStepOfFp32([ValueSource(nameof(Models))] string model, [Values("Q5_0", "Q5_1")] string type)
    {
        // The fixtures are ggml's quantization of the FP32 files. Per block of 32 stored weights, ggml's Q5_0 uses
        // d = (the signed value of largest magnitude) / -16 and clamps q at 31, so the error is at most one step
        // |d| = max|x| / 16; Q5_1 uses d = (max - min) / 31 and rounds, so at most half a step. Both store d (and m)
        // as FP16: allow that rounding (2^-10 relative to the block's range) and 1e-6 for blocks whose FP16 scale
        // underflows (the v4 blocks of ~1e-7 weights).
        using RwkvCppReader quantized = RwkvCppReader.Open(SharedFixtures.RwkvCppModel(model, type));
        using RwkvCppReader fp32 = RwkvCppReader.Open(SharedFixtures.RwkvCppModel(model, "FP32"));
        Assert.That(quantized.Tensors.Select(t => t.Name), Is.EqualTo(fp32.Tensors.Select(t => t.Name)));

        TensorDType expectedType = type == "Q5_0" ? TensorDType.Q5_0 : TensorDType.Q5_1;
        int quantizedCount = 0;
        using (Assert.EnterMultipleScope())
        {
            for (int i = 0; i < fp32.Tensors.Count; i++)
            {
                CheckpointTensor q = quantized.Tensors[i], f = fp32.Tensors[i];
                Assert.That(q.DType, Is.EqualTo(QuantizedByRwkvCpp(f) ? expectedType : TensorDType.Float32), f.Name);
                float[] original = f.ReadFloat32(), values = q.ReadFloat32();
                if (q.DType == TensorDType.Float32)
                {
                    Assert.That(values, Is.EqualTo(original), f.Name);
                    continue;
                }
                quantizedCount++;
                string? violation = null;
                for (int b = 0; b < original.Length / 32 && violation is null; b++)
                {
                    float[] block = original[(b * 32)..((b + 1) * 32)];
                    float min = block.Min(), max = block.Max(), magnitude = Math.Max(Math.Abs(min), Math.Abs(max));
                    double bound = (type == "Q5_0" ? magnitude / 16.0 : (max - min) / 62.0) + ((max - min + magnitude) / 1024.0) + 1e-6;
                    for (int j = 0; j < 32; j++)
                    {
                        double error = Math.Abs(values[(b * 32) + j] - block[j]);
                        if (error > bound)
                        {
                            violation = $"block {b} element {j}: |{values[(b * 32) + j]} - {block[j]}| = {error:g3} > {bound:g3}";
                            break;
                        }
                    }
                }
                Assert.That(violation, Is.Null, f.Name);
            }
        }
        Assert.That(quantizedCount, Is.GreaterThan(0));
    }

    [Test]
    public void Inspect_Q5Fixture_ReportsTheQuantizedType([ValueSource(nameof(Models))] string model, [Values("Q5_0", "Q5_1")] string type)
    {
        // The quantized matrices hold most parameters in every fixture model.
        RwkvCheckpointInfo info = RwkvExporter.Inspect(SharedFixtures.RwkvCppModel(model, type), new ExportOptions { GroupNormEpsilon = model.StartsWith('5') ? 1e-5f : null });

        Assert.That((info.Format, info.DType), Is.EqualTo(("rwkv.cpp", type.ToLowerInvariant())));
    }

    // Fixtures README: rwkv.cpp quantizes only 2-D tensors, never emb/head, RWKV-7's LoRA matrices or att.r_k.
    private static bool QuantizedByRwkvCpp(CheckpointTensor t)
    {
        string leaf = t.Name[(t.Name.LastIndexOf('.') + 1)..];
        bool v7Lora = t.Name.Contains(".att.", StringComparison.Ordinal) && leaf is "w1" or "w2" or "a1" or "a2" or "v1" or "v2" or "g1" or "g2" or "r_k";
        return t.Shape.Count == 2 && t.Name is not ("emb.weight" or "head.weight") && !v7Lora;
    }

    private float[] ReadOne(int typeCode, byte[] block)
    {
        string path = Write([new RawTensor("blocks.0.att.key.weight", [1, 32], typeCode, block)]);
        using RwkvCppReader reader = RwkvCppReader.Open(path);
        return reader.Tensors[0].ReadFloat32();
    }

    private string Write(RawTensor[] tensors, int fileVersion = 101)
    {
        string path = Path.Combine(_directory, "quantized.bin");
        WriteRaw(path, vocabSize: 2, embeddingSize: 32, layerCount: 1, fileTypeCode: tensors[^1].TypeCode, tensors, fileVersion);
        return path;
    }

    private static byte[] Half(float value)
    {
        var bytes = new byte[2];
        BinaryPrimitives.WriteHalfLittleEndian(bytes, (Half)value);
        return bytes;
    }

    private static byte[] Filled(int count, byte value) => Enumerable.Repeat(value, count).ToArray();
}
