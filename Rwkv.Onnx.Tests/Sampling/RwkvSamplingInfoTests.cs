using Rwkv.Onnx.Sampling;

namespace Rwkv.Onnx.Tests.Sampling;

public sealed class RwkvSamplingInfoTests
{
    [Test]
    public void ToSettings_OfTheManifestForm_GivesBackEverySettingButTheSeed()
    {
        var settings = new SamplingSettings
        {
            Temperature = 0.8f,
            TopP = 0.7f,
            TopK = 40,
            MinP = 0.05f,
            Seed = 7,
            PresencePenalty = 0.4f,
            FrequencyPenalty = 0.3f,
            PenaltyDecay = 0.99f,
        };

        SamplingSettings back = RwkvSamplingInfo.From(settings).ToSettings();

        Assert.That(back, Is.EqualTo(settings with { Seed = null }));
    }
}
