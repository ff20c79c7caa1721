using Rwkv.Onnx.Sampling;

namespace Rwkv.Onnx.Tests.Sampling;

public class PenaltyProcessorTests
{
    [Test]
    public void Apply_AfterAcceptedTokens_SubtractsPresencePlusDecayedFrequency()
    {
        var penalties = new PenaltyProcessor { PresencePenalty = 0.5f, FrequencyPenalty = 0.25f, Decay = 0.5f };
        penalties.Accept(2);   // {2: 1}
        penalties.Accept(2);   // {2: 1 * 0.5 + 1 = 1.5}
        penalties.Accept(5);   // {2: 0.75, 5: 1}
        float[] logits = new float[8];

        penalties.Apply(logits);

        Assert.Multiple(() =>
        {
            Assert.That(penalties.Occurrence(2), Is.EqualTo(0.75f));
            Assert.That(penalties.Occurrence(5), Is.EqualTo(1f));
            Assert.That(logits[2], Is.EqualTo(-(0.5f + (0.75f * 0.25f))));
            Assert.That(logits[5], Is.EqualTo(-(0.5f + 0.25f)));
            Assert.That(logits.Where((_, i) => i is not (2 or 5)), Is.All.Zero);
        });
    }

    [Test]
    public void Accept_ExemptToken_GetsPresenceButNoFrequencyPenalty()
    {
        var penalties = new PenaltyProcessor { PresencePenalty = 0.3f, FrequencyPenalty = 1f, ExemptTokens = new HashSet<int> { 1 } };
        penalties.Accept(1);
        penalties.Accept(1);
        float[] logits = [0f, 0f];
        penalties.Apply(logits);
        Assert.That(logits, Is.EqualTo(new[] { 0f, -0.3f }));
    }

    [Test]
    public void Reset_ForgetsEverything()
    {
        var penalties = new PenaltyProcessor { PresencePenalty = 1f };
        penalties.Accept(0);
        penalties.Reset();
        float[] logits = [1f];
        penalties.Apply(logits);
        Assert.Multiple(() =>
        {
            Assert.That(logits[0], Is.EqualTo(1f));
            Assert.That(penalties.DistinctTokenCount, Is.Zero);
        });
    }

    [Test]
    public void Apply_TokenOutsideLogits_Throws()
    {
        var penalties = new PenaltyProcessor { PresencePenalty = 1f };
        penalties.Accept(10);
        Assert.That(() => penalties.Apply(new float[4]), Throws.ArgumentException.With.Message.Contains("Token 10"));
    }

    [Test]
    public void Options_OutOfRange_ThrowNamingTheProperty()
    {
        Assert.Multiple(() =>
        {
            Assert.That(() => new PenaltyProcessor { Decay = 0f }, Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("Decay"));
            Assert.That(() => new PenaltyProcessor { Decay = 1.5f }, Throws.TypeOf<ArgumentOutOfRangeException>());
            Assert.That(() => new PenaltyProcessor { PresencePenalty = float.NaN }, Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("PresencePenalty"));
            Assert.That(() => new PenaltyProcessor { FrequencyPenalty = float.PositiveInfinity }, Throws.TypeOf<ArgumentOutOfRangeException>());
            Assert.That(() => new PenaltyProcessor().Accept(-1), Throws.TypeOf<ArgumentOutOfRangeException>());
        });
    }
}
