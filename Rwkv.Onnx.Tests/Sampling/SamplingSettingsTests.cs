using Rwkv.Onnx.Sampling;

namespace Rwkv.Onnx.Tests.Sampling;

[TestFixture]
public sealed class SamplingSettingsTests
{
    private static readonly SamplingSettings s_everything = new()
    {
        Temperature = 1.3f,
        TopP = 0.9f,
        TopK = 12,
        MinP = 0.01f,
        Seed = 21,
        PresencePenalty = 0.4f,
        FrequencyPenalty = 0.3f,
        PenaltyDecay = 0.99f,
    };

    private static float[] RandomLogits(int seed)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, 32).Select(_ => (float)(random.NextDouble() * 4))];
    }

    // Samples and accepts `count` tokens from the same logits.
    private static List<int> Draw(ISampler sampler, float[] logits, int count)
    {
        var tokens = new List<int>();
        for (int i = 0; i < count; i++)
        {
            tokens.Add(sampler.Sample(logits));
            sampler.Accept(tokens[^1]);
        }
        return tokens;
    }

    [Test]
    public void CreateSampler_DrawsAsASamplerBuiltByHandWithTheSameSettings()
    {
        var byHand = new TopPSampler
        {
            Temperature = 1.3f,
            TopP = 0.9f,
            TopK = 12,
            MinP = 0.01f,
            Seed = 21,
            Penalties = new PenaltyProcessor { PresencePenalty = 0.4f, FrequencyPenalty = 0.3f, Decay = 0.99f },
        };
        float[] logits = RandomLogits(1);
        Assert.That(Draw(s_everything.CreateSampler(), logits, 200), Is.EqualTo(Draw(byHand, logits, 200)));
    }

    [Test]
    public void CreateSampler_TwoSamplersFromOneSettingsUsedInTurn_DrawLikeEachAlone()
    {
        float[] logits = RandomLogits(2);
        List<int> alone = Draw(s_everything.CreateSampler(), logits, 100);
        ISampler a = s_everything.CreateSampler(), b = s_everything.CreateSampler();
        List<int> fromA = [], fromB = [];
        for (int i = 0; i < 100; i++)
        {
            fromA.Add(a.Sample(logits));
            a.Accept(fromA[^1]);
            fromB.Add(b.Sample(logits));
            b.Accept(fromB[^1]);
        }
        Assert.Multiple(() =>
        {
            Assert.That(fromA, Is.EqualTo(alone));
            Assert.That(fromB, Is.EqualTo(alone));
            Assert.That(alone.Distinct().Count(), Is.GreaterThan(3), "the draws vary");
        });
    }

    [Test]
    public void CreateSampler_TemperatureZero_PicksTheMostLikelyAfterPenalties()
    {
        float[] logits = [1f, 3f, 2f];
        Assert.Multiple(() =>
        {
            // Presence penalty 5 rules out each chosen token in turn: 1, then 2, then 0.
            Assert.That(Draw(new SamplingSettings { Temperature = 0, PresencePenalty = 5 }.CreateSampler(), logits, 3), Is.EqualTo(new[] { 1, 2, 0 }));
            Assert.That(Draw(SamplingSettings.Greedy.CreateSampler(), logits, 3), Is.EqualTo(new[] { 1, 1, 1 }));
        });
    }

    [Test]
    public void Init_OutOfRange_ThrowsNamingTheProperty()
    {
        static void Refused(Func<SamplingSettings> create, string property) =>
            Assert.That(() => create(), Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo(property));
        Assert.Multiple(() =>
        {
            Refused(() => new SamplingSettings { Temperature = -0.1f }, "Temperature");
            Refused(() => new SamplingSettings { Temperature = float.NaN }, "Temperature");
            Refused(() => new SamplingSettings { TopP = 0f }, "TopP");
            Refused(() => new SamplingSettings { TopP = 1.01f }, "TopP");
            Refused(() => new SamplingSettings { TopK = -1 }, "TopK");
            Refused(() => new SamplingSettings { MinP = 1.5f }, "MinP");
            Refused(() => new SamplingSettings { PresencePenalty = float.NaN }, "PresencePenalty");
            Refused(() => new SamplingSettings { FrequencyPenalty = float.PositiveInfinity }, "FrequencyPenalty");
            Refused(() => new SamplingSettings { PenaltyDecay = 0f }, "PenaltyDecay");
            Refused(() => s_everything with { PenaltyDecay = 1.5f }, "PenaltyDecay");
        });
    }

    [Test]
    public void Equality_IsByValue()
    {
        Assert.Multiple(() =>
        {
            Assert.That(new SamplingSettings { Temperature = 1.3f, TopP = 0.9f, TopK = 12, MinP = 0.01f, Seed = 21, PresencePenalty = 0.4f, FrequencyPenalty = 0.3f, PenaltyDecay = 0.99f },
                Is.EqualTo(s_everything));
            Assert.That(s_everything with { Seed = 22 }, Is.Not.EqualTo(s_everything));
            Assert.That(new SamplingSettings { Temperature = 0 }, Is.EqualTo(SamplingSettings.Greedy));
        });
    }
}
