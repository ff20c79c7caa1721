namespace Rwkv.Onnx.Tests.Runtime;

public class RwkvModelOptionsTests
{
    [Test]
    public void Defaults_AreCpuDeviceZeroOrtThreadsAndChunk256()
    {
        var options = new RwkvModelOptions();

        Assert.That(options.ExecutionProvider, Is.EqualTo(RwkvExecutionProvider.Cpu));
        Assert.That(options.DeviceId, Is.Zero);
        Assert.That(options.IntraOpThreads, Is.Zero);
        Assert.That(options.PrefillChunkSize, Is.EqualTo(256));
    }

    [Test]
    public void Init_ValidValues_AreKept()
    {
        var options = new RwkvModelOptions
        {
            ExecutionProvider = RwkvExecutionProvider.DirectML,
            DeviceId = 2,
            IntraOpThreads = 3,
            PrefillChunkSize = 1,
        };

        Assert.That(options.ExecutionProvider, Is.EqualTo(RwkvExecutionProvider.DirectML));
        Assert.That(options.DeviceId, Is.EqualTo(2));
        Assert.That(options.IntraOpThreads, Is.EqualTo(3));
        Assert.That(options.PrefillChunkSize, Is.EqualTo(1));
    }

    [Test]
    public void DeviceId_Negative_Throws() =>
        Assert.That(() => new RwkvModelOptions { DeviceId = -1 },
            Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("DeviceId"));

    [Test]
    public void IntraOpThreads_Negative_Throws() =>
        Assert.That(() => new RwkvModelOptions { IntraOpThreads = -1 },
            Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("IntraOpThreads"));

    [TestCase(0)]
    [TestCase(-5)]
    public void PrefillChunkSize_LessThanOne_Throws(int value) =>
        Assert.That(() => new RwkvModelOptions { PrefillChunkSize = value },
            Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("PrefillChunkSize"));

    [Test]
    public void ExecutionProvider_Undefined_Throws() =>
        Assert.That(() => new RwkvModelOptions { ExecutionProvider = (RwkvExecutionProvider)42 },
            Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("ExecutionProvider"));
}
