using Rwkv.Onnx.Sampling;

namespace Rwkv.Onnx.Tests.Sampling;

public class SamplerPenaltyAndMinPTests
{
    private static int[] Histogram(ISampler sampler, float[] logits, int draws)
    {
        int[] counts = new int[logits.Length];
        for (int i = 0; i < draws; i++)
        {
            counts[sampler.Sample(logits)]++;
        }
        return counts;
    }

    [Test]
    public void MinP_DropsTokensBelowTheFractionOfTheMostLikely()
    {
        // Probabilities 0.5, 0.3, 0.15, 0.05; min-p 0.35 keeps p >= 0.175: tokens 0 and 1, drawn 5:3.
        float[] logits = [MathF.Log(0.5f), MathF.Log(0.3f), MathF.Log(0.15f), MathF.Log(0.05f)];
        const int Draws = 20000;
        int[] counts = Histogram(new TopPSampler { MinP = 0.35f, Seed = 17 }, logits, Draws);
        Assert.Multiple(() =>
        {
            Assert.That(counts[2] + counts[3], Is.Zero);
            Assert.That(counts[0] / (double)Draws, Is.EqualTo(0.625).Within(0.015));
        });
    }

    [Test]
    public void MinP_Zero_KeepsEveryToken()
    {
        float[] logits = [MathF.Log(0.5f), MathF.Log(0.3f), MathF.Log(0.15f), MathF.Log(0.05f)];
        int[] counts = Histogram(new TopPSampler { MinP = 0, Seed = 17 }, logits, 20000);
        Assert.That(counts, Is.All.GreaterThan(0));
    }

    [Test]
    public void Greedy_WithPresencePenalty_MovesOnFromAcceptedTokens()
    {
        var sampler = new GreedySampler { Penalties = new PenaltyProcessor { PresencePenalty = 0.5f } };
        float[] logits = [1f, 0.9f, 0.2f];
        var chosen = new List<int>();
        for (int i = 0; i < 3; i++)
        {
            int token = sampler.Sample(logits);
            chosen.Add(token);
            sampler.Accept(token);
        }
        // 0 (1.0); then 1 (0.9 > 0.5); then 0 and 1 are both down by 0.5 and 0.5 > 0.4 > 0.2: 0 again.
        Assert.Multiple(() =>
        {
            Assert.That(chosen, Is.EqualTo(new[] { 0, 1, 0 }));
            Assert.That(logits, Is.EqualTo(new[] { 1f, 0.9f, 0.2f }), "the caller's logits are not modified");
        });
    }

    [Test]
    public void Greedy_WithFrequencyPenalty_CyclesOverEqualLogits()
    {
        var sampler = new GreedySampler { Penalties = new PenaltyProcessor { FrequencyPenalty = 1f } };
        float[] logits = new float[3];
        var chosen = new List<int>();
        for (int i = 0; i < 6; i++)
        {
            int token = sampler.Sample(logits);
            chosen.Add(token);
            sampler.Accept(token);
        }
        Assert.That(chosen, Is.EqualTo(new[] { 0, 1, 2, 0, 1, 2 }));
    }

    [Test]
    public void Reset_ForgetsPenaltiesBetweenSequences()
    {
        var sampler = new GreedySampler { Penalties = new PenaltyProcessor { PresencePenalty = 5f } };
        sampler.Accept(0);
        Assert.That(sampler.Sample([1f, 0f]), Is.EqualTo(1));
        sampler.Reset();
        Assert.That(sampler.Sample([1f, 0f]), Is.Zero);
    }

    [Test]
    public void TopP_WithPenaltiesAndSameSeed_IsDeterministic()
    {
        var random = new Random(5);
        float[][] steps = [.. Enumerable.Range(0, 100).Select(_ => Enumerable.Range(0, 50).Select(_ => (float)random.NextDouble() * 3).ToArray())];
        int[] Run(int seed)
        {
            var sampler = new TopPSampler
            {
                Temperature = 1.1f,
                TopP = 0.9f,
                TopK = 20,
                MinP = 0.05f,
                Seed = seed,
                Penalties = new PenaltyProcessor { PresencePenalty = 0.4f, FrequencyPenalty = 0.4f, Decay = 0.996f },
            };
            return [.. steps.Select(logits =>
            {
                int token = sampler.Sample(logits);
                sampler.Accept(token);
                return token;
            })];
        }
        int[] first = Run(7), again = Run(7), other = Run(8);
        Assert.Multiple(() =>
        {
            Assert.That(again, Is.EqualTo(first));
            Assert.That(other, Is.Not.EqualTo(first));
        });
    }

    [Test]
    public void TopK1_WithPenalties_EqualsGreedyWithPenalties()
    {
        var random = new Random(9);
        var topK = new TopPSampler { TopK = 1, Temperature = 2f, Seed = 1, Penalties = new PenaltyProcessor { PresencePenalty = 0.3f, FrequencyPenalty = 0.2f } };
        var greedy = new GreedySampler { Penalties = new PenaltyProcessor { PresencePenalty = 0.3f, FrequencyPenalty = 0.2f } };
        for (int step = 0; step < 50; step++)
        {
            float[] logits = [.. Enumerable.Range(0, 16).Select(_ => (float)random.NextDouble())];
            int a = topK.Sample(logits), b = greedy.Sample(logits);
            Assert.That(a, Is.EqualTo(b), $"step {step}");
            topK.Accept(a);
            greedy.Accept(b);
        }
    }

    [Test]
    public void MinP_OutOfRange_Throws()
    {
        Assert.That(() => new TopPSampler { MinP = 1.5f }, Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("MinP"));
    }
}
