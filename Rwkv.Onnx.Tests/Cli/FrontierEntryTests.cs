using Rwkv.Onnx.Cli.Quantization;
using Rwkv.Onnx.Export;

namespace Rwkv.Onnx.Tests.Cli;

/// <summary>quant-frontier's ggml entries: rwkv.cpp's arithmetic by default, the weights alone with <c>-weights</c>.</summary>
[TestFixture]
public sealed class FrontierEntryTests
{
    [TestCase("q8_0", EmulatedBlockFormat.Q8_0, EmulatedArithmetic.Ggml)]
    [TestCase("q4_0", EmulatedBlockFormat.Q4_0, EmulatedArithmetic.Ggml)]
    [TestCase("q5_1", EmulatedBlockFormat.Q5_1, EmulatedArithmetic.Ggml)]
    [TestCase("q8_0-weights", EmulatedBlockFormat.Q8_0, EmulatedArithmetic.WeightsOnly)]
    [TestCase("q4_0-weights", EmulatedBlockFormat.Q4_0, EmulatedArithmetic.WeightsOnly)]
    [TestCase("q5_1-weights", EmulatedBlockFormat.Q5_1, EmulatedArithmetic.WeightsOnly)]
    public void GgmlEntry_SetsFormatAndArithmetic(string text, EmulatedBlockFormat format, EmulatedArithmetic arithmetic)
    {
        ExportOptions options = FrontierEntry.Parse(text).Options(null);
        Assert.Multiple(() =>
        {
            Assert.That(options.WeightDType, Is.EqualTo(WeightDType.Float32));
            Assert.That(options.EmulatedFormat, Is.EqualTo(format));
            Assert.That(options.EmulatedArithmetic, Is.EqualTo(arithmetic));
        });
    }
}
