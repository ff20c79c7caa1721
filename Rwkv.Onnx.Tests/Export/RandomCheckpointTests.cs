using System.Security.Cryptography;
using Rwkv.Onnx.Export.Checkpoints;
using Rwkv.Onnx.Export.RandomCheckpoints;

namespace Rwkv.Onnx.Tests.Export;

/// <summary>The streaming random-checkpoint generators and the chunked rwkv.cpp writer.</summary>
[TestFixture]
public sealed class RandomCheckpointTests
{
    private string _directory = "";

    [SetUp]
    public void CreateDirectory() => _directory = Directory.CreateTempSubdirectory("rwkv-random-checkpoint-tests-").FullName;

    [TearDown]
    public void DeleteDirectory() => Directory.Delete(_directory, recursive: true);

    // SHA-256 of the files the in-memory generators wrote before they moved into the exporter and began to stream
    // (test project at commit edb709b, TinyCheckpoints.WriteRwkvN with these arguments). The v7 FP32 case has a
    // 70000 × 128 embedding, larger than one write chunk.
    private static IEnumerable<TestCaseData> PreStreamingFiles()
    {
        yield return new TestCaseData(new Action<string>(p => RandomCheckpoint.WriteRwkv4(p, 2, 64, 300, 256, seed: 11)),
            "697463e07bf74751b9dd97bcc102996824ca15431aec57bbd87153a98cc1b81a").SetArgDisplayNames("v4");
        yield return new TestCaseData(new Action<string>(p => RandomCheckpoint.WriteRwkv5(p, "5.2", 2, 128, 64, 300, 448, seed: 12)),
            "ee93003f0b318c68aad566bb2016a35738b55189ec2ea6ec83ce19eeec8354b3").SetArgDisplayNames("v5.2");
        yield return new TestCaseData(new Action<string>(p => RandomCheckpoint.WriteRwkv6(p, 2, 128, 64, 300, 448, 32, 64, seed: 13, TensorDType.Float16)),
            "282342aff7dd1e3ba95ecef6b26b0e1e4406212ddfe80818e4739dea922dc114").SetArgDisplayNames("v6-fp16");
        yield return new TestCaseData(new Action<string>(p => RandomCheckpoint.WriteRwkv7(p, 2, 128, 64, 70000, 512, 32, 32, 32, 64, seed: 14)),
            "38ea68a6294ade4d119b8d15fc3c55588322da535b0398ec7e1c79d9c89d26be").SetArgDisplayNames("v7-fp32");
        yield return new TestCaseData(new Action<string>(p => RandomCheckpoint.WriteRwkv7(p, 2, 128, 64, 300, 512, 32, 32, 32, 64, seed: 15, TensorDType.Float16)),
            "165063d187f838e436ac535c240d06743afadfe793588a282b5a001dd7dc2c45").SetArgDisplayNames("v7-fp16");
    }

    [TestCaseSource(nameof(PreStreamingFiles))]
    public void Write_StreamingGenerator_WritesTheBytesOfThePreStreamingGenerator(Action<string> write, string expectedSha256)
    {
        string path = Path.Combine(_directory, "model.bin");

        write(path);

        Assert.That(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path))), Is.EqualTo(expectedSha256));
    }

    [TestCase(TensorDType.Float32)]
    [TestCase(TensorDType.Float16)]
    public void Write_TensorLargerThanOneChunk_ReadsBackEveryValue(TensorDType dtype)
    {
        const int Rows = 300, Cols = 500; // 150,000 values: more than two 65,536-value chunks
        float[] values = Enumerable.Range(0, Rows * Cols).Select(i => (i % 2047) - 1023f).ToArray(); // exact in FP16
        string path = Path.Combine(_directory, "large.bin");

        RwkvCppWriter.Write(path, vocabSize: Rows, embeddingSize: Cols, layerCount: 1, dtype, [new RwkvCppWriter.Tensor("emb.weight", [Rows, Cols], values, dtype)]);

        using RwkvCppReader reader = RwkvCppReader.Open(path);
        CheckpointTensor read = reader.Tensors.Single();
        Assert.That(read.Shape, Is.EqualTo(new long[] { Rows, Cols }));
        Assert.That(read.ReadFloat32(), Is.EqualTo(values).AsCollection);
        Assert.That(new FileInfo(path).Length, Is.EqualTo(RwkvCppWriter.HeaderSize + 12 + 8 + "emb.weight".Length + (long)values.Length * (dtype == TensorDType.Float16 ? 2 : 4)));
    }

    [Test]
    public void WriteRwkv7_Written_IsWhatTheCheckpointReadsBack()
    {
        string path = Path.Combine(_directory, "v7.bin");
        var written = new List<CanonicalTensor>();

        RandomCheckpoint.WriteRwkv7(path, 2, 128, 64, 300, 512, 32, 32, 32, 64, seed: 3, TensorDType.Float16, written);

        using RwkvCheckpoint checkpoint = RwkvCheckpoint.Open(path);
        Assert.That(checkpoint.Tensors.Keys, Is.EquivalentTo(written.Select(t => t.Name)));
        using (Assert.EnterMultipleScope())
        {
            foreach (CanonicalTensor tensor in written)
            {
                Assert.That(checkpoint.Get(tensor.Name).ReadFloat32(), Is.EqualTo(tensor.Data).AsCollection, tensor.Name);
            }
        }
    }

    // Published RWKV-7 shapes: 0.1B (C 768) has LoRA ranks w 64, a 64, v 32, g 128; 1.5B (C 2048) has 96, 96, 64, 256.
    [TestCase(768, 64, 64, 32, 128)]
    [TestCase(2048, 96, 96, 64, 256)]
    public void Rwkv7LoraRanks_PublishedShapes(int embd, int w, int a, int v, int g) =>
        Assert.That(RandomCheckpoint.Rwkv7LoraRanks(embd), Is.EqualTo((w, a, v, g)));
}
