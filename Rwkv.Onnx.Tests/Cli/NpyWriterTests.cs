using System.Text;
using Rwkv.Onnx.Cli.Npy;
using Rwkv.Onnx.Cli.Output;

namespace Rwkv.Onnx.Tests.Cli;

public class NpyWriterTests
{
    private string _directory = "";

    [SetUp]
    public void SetUp() => _directory = Directory.CreateTempSubdirectory("rwkv-npy-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_directory, recursive: true);

    [Test]
    public void Write_Vector_HasTheExactNumPyHeader()
    {
        using var stream = new MemoryStream();
        NpyWriter.Write(stream, new float[256], [256]);
        byte[] bytes = stream.ToArray();
        string header = Encoding.ASCII.GetString(bytes, 10, 118);
        Assert.Multiple(() =>
        {
            Assert.That(bytes[..8], Is.EqualTo(new byte[] { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0 }));
            Assert.That(BitConverter.ToUInt16(bytes, 8), Is.EqualTo(118));   // 10 + 118 = 128 = 2 * 64
            Assert.That(header, Does.StartWith("{'descr': '<f4', 'fortran_order': False, 'shape': (256,), }"));
            Assert.That(header, Does.EndWith(" \n"));
            Assert.That(bytes, Has.Length.EqualTo(128 + 256 * 4));
        });
    }

    [Test]
    public void Write_MatrixFile_RoundTripsThroughTheReader()
    {
        float[] data = Enumerable.Range(0, 3 * 5).Select(i => i * 0.5f - 3.25f).ToArray();
        data[7] = float.NegativeInfinity;
        string path = Path.Combine(_directory, "m.npy");
        OutputFiles.Check([("--out", path)]).Write(("--out", stream => NpyWriter.Write(stream, data, [3, 5])));
        NpyArray array = NpyReader.Read(path);
        Assert.Multiple(() =>
        {
            Assert.That(array.Shape, Is.EqualTo(new[] { 3, 5 }));
            Assert.That(array.Data, Is.EqualTo(data));
            Assert.That(Directory.GetFiles(_directory), Has.Length.EqualTo(1), "no temporary file is left");
        });
    }

    [Test]
    public void Write_ShapeMismatch_ThrowsAndTheOutputFileIsNotLeft()
    {
        string path = Path.Combine(_directory, "bad.npy");
        Assert.Multiple(() =>
        {
            Assert.That(() => OutputFiles.Check([("--out", path)]).Write(("--out", stream => NpyWriter.Write(stream, new float[10], [3, 4]))),
                Throws.ArgumentException.With.Message.Contains("(3, 4) holds 12 values but 10 were given"));
            Assert.That(Directory.GetFileSystemEntries(_directory), Is.Empty);
        });
    }
}
