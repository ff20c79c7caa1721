using Rwkv.Onnx.Export;
using Rwkv.Onnx.Export.Quantization;

namespace Rwkv.Onnx.Tests.Export.Quantization;

[TestFixture]
public sealed class BlockQuantizerTests
{
    [TestCase(4)]
    [TestCase(8)]
    public void PackThenUnpack_IsExactForEveryCode(int bits)
    {
        int max = 1 << bits;
        byte[] codes = Enumerable.Range(0, 64).Select(i => (byte)(i * 7 % max)).ToArray();
        var packed = new byte[codes.Length * bits / 8];
        BlockQuantizer.Pack(codes, bits, packed);
        var unpacked = new byte[codes.Length];
        BlockQuantizer.Unpack(packed, bits, unpacked);
        Assert.That(unpacked, Is.EqualTo(codes));
    }

    [Test]
    public void Pack4_PutsTheFirstCodeInTheLowNibble()
    {
        var packed = new byte[2];
        BlockQuantizer.Pack([0x1, 0xA, 0xF, 0x0], 4, packed);
        Assert.That(packed, Is.EqualTo(new byte[] { 0xA1, 0x0F }));
    }

    [TestCase(4, 16)]
    [TestCase(4, 32)]
    [TestCase(8, 32)]
    [TestCase(8, 64)]
    public void ValuesOnTheGrid_QuantizeDequantizeToThemselves(int bits, int blockSize)
    {
        // Each block holds q·s with integer |q| <= 2^(bits-1)-1, its extreme code present, and s a power of two,
        // so the recomputed scale is s exactly and every value comes back bit for bit.
        int n = 3, k = 2 * blockSize, limit = (1 << (bits - 1)) - 1;
        var random = new Random(7);
        var weight = new float[n * k];
        for (int block = 0; block < n * 2; block++)
        {
            float s = MathF.ScaleB(1f, random.Next(-12, 3));
            for (int i = 0; i < blockSize; i++)
            {
                weight[block * blockSize + i] = random.Next(-limit, limit + 1) * s;
            }
            weight[block * blockSize + random.Next(blockSize)] = (block % 2 == 0 ? limit : -limit) * s;
        }
        (byte[] codes, float[] scales) = BlockQuantizer.Quantize(weight, n, k, blockSize, bits);
        Assert.Multiple(() =>
        {
            Assert.That(codes, Has.Length.EqualTo(n * 2 * blockSize * bits / 8));
            Assert.That(scales, Has.Length.EqualTo(n * 2));
            Assert.That(BlockQuantizer.Dequantize(codes, scales, n, k, blockSize, bits), Is.EqualTo(weight));
        });
    }

    [TestCase(4)]
    [TestCase(8)]
    public void ArbitraryValues_ComeBackWithinHalfAStep(int bits)
    {
        int n = 5, k = 96, blockSize = 32, limit = (1 << (bits - 1)) - 1;
        var random = new Random(3);
        float[] weight = Enumerable.Range(0, n * k).Select(_ => (float)(random.NextDouble() * 2 - 1) * 0.3f).ToArray();
        (byte[] codes, float[] scales) = BlockQuantizer.Quantize(weight, n, k, blockSize, bits);
        float[] back = BlockQuantizer.Dequantize(codes, scales, n, k, blockSize, bits);
        for (int i = 0; i < weight.Length; i++)
        {
            int block = i / k * (k / blockSize) + i % k / blockSize;
            float absMax = weight.AsSpan(i - i % blockSize, blockSize).ToArray().Max(MathF.Abs);
            Assert.That(scales[block], Is.EqualTo(absMax / limit));
            Assert.That(back[i], Is.EqualTo(weight[i]).Within(scales[block] * 0.5f * 1.0001f), $"weight {i}");
        }
    }

    [Test]
    public void PartialLastBlock_IsPaddedWithTheZeroCode()
    {
        // K = 40 with blocks of 32: the second block has 8 values and 24 padding codes of value 0.
        float[] weight = Enumerable.Range(0, 40).Select(i => (i - 20) / 8f).ToArray();
        (byte[] codes, float[] scales) = BlockQuantizer.Quantize(weight, 1, 40, 32, 4);
        var second = new byte[32];
        BlockQuantizer.Unpack(codes.AsSpan(16, 16), 4, second);
        Assert.Multiple(() =>
        {
            Assert.That(second[8..], Is.All.EqualTo(8));
            Assert.That(BlockQuantizer.Dequantize(codes, scales, 1, 40, 32, 4), Has.Length.EqualTo(40));
        });
    }

    [Test]
    public void ZeroBlock_HasScaleZeroAndDequantizesToZero()
    {
        var weight = new float[32];
        (byte[] codes, float[] scales) = BlockQuantizer.Quantize(weight, 1, 32, 32, 8);
        Assert.Multiple(() =>
        {
            Assert.That(scales, Is.EqualTo(new[] { 0f }));
            Assert.That(codes, Is.All.EqualTo(128));
            Assert.That(BlockQuantizer.Dequantize(codes, scales, 1, 32, 32, 8), Is.All.EqualTo(0f));
        });
    }

    [Test]
    public void OtherBitWidths_AreRejected() =>
        Assert.That(() => BlockQuantizer.Quantize(new float[32], 1, 32, 32, 3), Throws.TypeOf<ArgumentOutOfRangeException>());

    // The searched roundings fit each candidate's scale by least squares, so they can only lower a block's squared error
    // against their starting point: over many normal-looking blocks the total must drop clearly.
    [TestCase(4, BlockRounding.Search, BlockRounding.AbsMax)]
    [TestCase(8, BlockRounding.Search, BlockRounding.AbsMax)]
    [TestCase(4, BlockRounding.ZeroPointSearch, BlockRounding.ZeroPoint)]
    [TestCase(8, BlockRounding.ZeroPointSearch, BlockRounding.ZeroPoint)]
    public void SearchedScales_HaveLessSquaredErrorThanTheirStart(int bits, BlockRounding searched, BlockRounding start)
    {
        float[] weight = Gaussian(64 * 256, seed: 5);
        double a = SquaredError(weight, 256, BlockQuantizer.Quantize(weight, 64, 256, 32, bits, searched), bits);
        double b = SquaredError(weight, 256, BlockQuantizer.Quantize(weight, 64, 256, 32, bits, start), bits);
        TestContext.Out.WriteLine($"{searched} {a:G4} vs {start} {b:G4}");
        Assert.That(a, Is.LessThan(b * 0.97));
    }

    // Zero points pay off where a block is off-centre: all-positive weights use every code instead of half of them.
    [TestCase(4)]
    [TestCase(8)]
    public void ZeroPoints_HalveTheErrorOfOneSidedBlocks(int bits)
    {
        float[] weight = [.. Gaussian(16 * 128, seed: 9).Select(v => MathF.Abs(v) + 0.5f)];
        double asymmetric = SquaredError(weight, 128, BlockQuantizer.Quantize(weight, 16, 128, 32, bits, BlockRounding.ZeroPoint), bits);
        double symmetric = SquaredError(weight, 128, BlockQuantizer.Quantize(weight, 16, 128, 32, bits, BlockRounding.AbsMax), bits);
        Assert.That(asymmetric, Is.LessThan(symmetric / 2));
    }

    [TestCase(4)]
    [TestCase(8)]
    public void ZeroPoints_ArePackedTwoBlocksPerByteFor4BitsAndOnePerByteFor8(int bits)
    {
        // 3 blocks per row: 4 bits need 2 bytes per row (the last nibble padding), 8 bits need 3.
        float[] weight = Gaussian(2 * 96, seed: 1);
        BlockQuantized q = BlockQuantizer.Quantize(weight, 2, 96, 32, bits, BlockRounding.ZeroPoint);
        Assert.That(q.ZeroPoints, Has.Length.EqualTo(2 * (bits == 4 ? 2 : 3)));
    }

    private static float[] Gaussian(int count, int seed)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, count).Select(_ => (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()) * 0.02))];
    }

    private static double SquaredError(float[] weight, int k, BlockQuantized q, int bits)
    {
        float[] back = BlockQuantizer.Dequantize(q, weight.Length / k, k, 32, bits);
        return weight.Zip(back, (w, b) => ((double)w - b) * ((double)w - b)).Sum();
    }
}
