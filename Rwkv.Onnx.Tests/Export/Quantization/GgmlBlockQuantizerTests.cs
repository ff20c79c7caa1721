using Rwkv.Onnx.Export;
using Rwkv.Onnx.Export.Checkpoints;
using Rwkv.Onnx.Export.Quantization;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Export.Quantization;

/// <summary>The ggml formats that <see cref="ExportOptions.EmulatedFormat"/> rounds through, against rwkv.cpp's own files and hand values.</summary>
[TestFixture]
public sealed class GgmlBlockQuantizerTests
{
    // rwkv.cpp's quantize tool made the fixtures' Q5_1 files from their FP32 files: our quantizer must give back the
    // same weights for every linear layer (RWKV-4 and 5 have no LoRA matrices, whose layout rwkv.cpp changes).
    [TestCase("4v0-660K")]
    [TestCase("5v2-730K")]
    public void Q5_1_ReproducesRwkvCppsQuantizedFixture(string model)
    {
        using RwkvCheckpoint fp32 = RwkvCheckpoint.Open(SharedFixtures.RwkvCppModel(model, "FP32"));
        using RwkvCheckpoint q51 = RwkvCheckpoint.Open(SharedFixtures.RwkvCppModel(model, "Q5_1"));
        string[] linear = [.. fp32.Tensors.Keys.Where(n => n.StartsWith("blocks.", StringComparison.Ordinal) && n.EndsWith(".weight", StringComparison.Ordinal)
            && fp32.Get(n).Shape.Count == 2 && !n.Contains(".ln", StringComparison.Ordinal))];
        Assert.That(linear, Has.Length.GreaterThanOrEqualTo(12));
        foreach (string name in linear)
        {
            float[] ours = GgmlBlockQuantizer.RoundTrip(fp32.Get(name).ReadFloat32(), EmulatedBlockFormat.Q5_1);
            Assert.That(ours, Is.EqualTo(q51.Get(name).ReadFloat32()), name);
        }
    }

    [Test]
    public void Q8_0_ScalesByTheMaxOver127AndRoundsHalfAwayFromZero()
    {
        float[] x = new float[32];
        x[0] = 1.27f;   // d = 0.01 (as float16: 0.0099945068...)
        x[1] = -0.635f; // −63.53 → −64
        x[2] = 0.005f;  // 0.5003 → 1
        float d = (float)(Half)(1.27f / 127);
        float[] back = GgmlBlockQuantizer.RoundTrip(x, EmulatedBlockFormat.Q8_0);
        Assert.That(back[..4], Is.EqualTo(new[] { 127 * d, -64 * d, 1 * d, 0f }));
    }

    [Test]
    public void Q4_0_MapsTheSignedMaximumToMinus8()
    {
        float[] x = new float[32];
        x[0] = -0.8f; // d = −0.8 / −8 = 0.1: −8 + 8.5 → code 0 → (0 − 8)·d
        x[1] = 0.7f;  // 7 + 8.5 = 15.5 → code 15 → 7·d
        x[2] = 0.04f; // 0.4 + 8.5 = 8.9 → code 8 → 0
        x[3] = 0.26f; // 2.6 + 8.5 = 11.1 → code 11 → 3·d
        float d = (float)(Half)(-0.8f / -8);
        float[] back = GgmlBlockQuantizer.RoundTrip(x, EmulatedBlockFormat.Q4_0);
        Assert.That(back[..4], Is.EqualTo(new[] { -8 * d, 7 * d, 0f, 3 * d }));
    }

    [Test]
    public void WidthsThatAreNotWholeBlocks_AreRejected() =>
        Assert.That(() => GgmlBlockQuantizer.RoundTrip(new float[40], EmulatedBlockFormat.Q8_0), Throws.ArgumentException.With.Message.Contains("40 values"));
}
