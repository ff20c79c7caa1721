using Rwkv.Onnx.Export;

namespace Rwkv.Onnx.Tests.Parity;

/// <summary><see cref="ExportOptions.WkvChunkLength"/> and <see cref="ExportOptions.PrefillRecurrence"/>: defaults and validation.</summary>
[TestFixture]
public sealed class ChunkedRecurrenceOptionsTests
{
    [Test]
    public void Defaults_AreChunkedWithTheVersionsChunkLength()
    {
        var options = new ExportOptions();
        Assert.That((options.PrefillRecurrence, options.WkvChunkLength), Is.EqualTo((PrefillRecurrence.Chunked, (int?)null)));
    }

    [TestCase(4)]
    [TestCase(64)]
    public void WkvChunkLength_AcceptsPowersOfTwoFromFourToSixtyFour(int length) =>
        Assert.That(new ExportOptions { WkvChunkLength = length }.WkvChunkLength, Is.EqualTo(length));

    [TestCase(0)]
    [TestCase(2)]
    [TestCase(12)]
    [TestCase(128)]
    public void WkvChunkLength_RejectsOthers(int length) =>
        Assert.That(() => new ExportOptions { WkvChunkLength = length },
            Throws.TypeOf<ArgumentOutOfRangeException>().With.Message.Contains($"WKV chunk length {length} is not a power of two from 4 to 64"));
}
