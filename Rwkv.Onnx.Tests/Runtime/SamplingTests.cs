using Rwkv.Onnx.Sampling;

namespace Rwkv.Onnx.Tests.Runtime;

public class SamplingTests
{
    // Logits with a clear but not overwhelming winner at index 3, and a tie-free order.
    private static float[] MakeLogits(int vocab = 64, int seed = 7)
    {
        var random = new Random(seed);
        float[] logits = new float[vocab];
        for (int i = 0; i < vocab; i++)
        {
            logits[i] = (float)(random.NextDouble() * 2 - 1);
        }
        logits[3] = 2.5f;
        return logits;
    }

    private static double[] Softmax(float[] logits, double temperature)
    {
        double max = logits.Max();
        double[] e = logits.Select(l => Math.Exp((l - max) / temperature)).ToArray();
        double sum = e.Sum();
        return e.Select(x => x / sum).ToArray();
    }

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
    public void Greedy_ReturnsIndexOfMax_FirstOnTies()
    {
        var greedy = new GreedySampler();
        Assert.Multiple(() =>
        {
            Assert.That(greedy.Sample(MakeLogits()), Is.EqualTo(3));
            Assert.That(greedy.Sample([1f, 5f, 5f, -2f]), Is.EqualTo(1));
        });
    }

    [Test]
    public void Sample_EmptyLogits_Throws()
    {
        Assert.Multiple(() =>
        {
            Assert.That(() => new GreedySampler().Sample([]), Throws.ArgumentException);
            Assert.That(() => new TopPSampler().Sample([]), Throws.ArgumentException);
        });
    }

    [Test]
    public void TopP_SameSeed_GivesSameSequence()
    {
        float[] logits = MakeLogits();
        var a = new TopPSampler { Temperature = 1.3f, TopP = 0.95f, Seed = 42 };
        var b = new TopPSampler { Temperature = 1.3f, TopP = 0.95f, Seed = 42 };
        var c = new TopPSampler { Temperature = 1.3f, TopP = 0.95f, Seed = 43 };
        int[] sa = Enumerable.Range(0, 200).Select(_ => a.Sample(logits)).ToArray();
        int[] sb = Enumerable.Range(0, 200).Select(_ => b.Sample(logits)).ToArray();
        int[] sc = Enumerable.Range(0, 200).Select(_ => c.Sample(logits)).ToArray();
        Assert.Multiple(() =>
        {
            Assert.That(sa, Is.EqualTo(sb));
            Assert.That(sa, Is.Not.EqualTo(sc));
            Assert.That(sa.Distinct().Count(), Is.GreaterThan(5), "temperature 1.3 over 64 tokens should not collapse to a few ids");
        });
    }

    [Test]
    public void TopK1_EqualsGreedy()
    {
        var greedy = new GreedySampler();
        var sampler = new TopPSampler { Temperature = 2f, TopK = 1, Seed = 1 };
        for (int seed = 0; seed < 50; seed++)
        {
            float[] logits = MakeLogits(seed: seed);
            logits[3] = 0;   // let the random values decide the winner
            Assert.That(sampler.Sample(logits), Is.EqualTo(greedy.Sample(logits)), $"logits seed {seed}");
        }
    }

    [Test]
    public void TinyTopP_EqualsGreedy()
    {
        var greedy = new GreedySampler();
        var sampler = new TopPSampler { Temperature = 1.5f, TopP = 1e-6f, Seed = 1 };
        for (int seed = 0; seed < 50; seed++)
        {
            float[] logits = MakeLogits(seed: seed);
            logits[3] = 0;
            Assert.That(sampler.Sample(logits), Is.EqualTo(greedy.Sample(logits)), $"logits seed {seed}");
        }
    }

    [Test]
    public void TemperatureZero_EqualsGreedy()
    {
        var sampler = new TopPSampler { Temperature = 0, Seed = 5 };
        Assert.That(Enumerable.Range(0, 100).Select(_ => sampler.Sample(MakeLogits())), Is.All.EqualTo(3));
    }

    [Test]
    public void TopK_OnlyTheKMostLikelyAppear()
    {
        float[] logits = [0f, 3f, 1f, 2f, -1f, 2.5f];
        var sampler = new TopPSampler { Temperature = 3f, TopK = 3, Seed = 11 };
        int[] counts = Histogram(sampler, logits, 5000);
        Assert.Multiple(() =>
        {
            Assert.That(counts[1] > 0 && counts[5] > 0 && counts[3] > 0, Is.True, "the three largest logits are 1, 5, 3");
            Assert.That(counts[0] + counts[2] + counts[4], Is.Zero);
        });
    }

    [Test]
    public void TopP_KeepsTheSmallestNucleusAndRenormalises()
    {
        // Probabilities 0.5, 0.3, 0.2 (logits are their logs): top-p 0.7 keeps {0, 1} and samples them 5:3.
        float[] logits = [MathF.Log(0.5f), MathF.Log(0.3f), MathF.Log(0.2f)];
        var sampler = new TopPSampler { TopP = 0.7f, Seed = 3 };
        const int Draws = 20000;
        int[] counts = Histogram(sampler, logits, Draws);
        Assert.Multiple(() =>
        {
            Assert.That(counts[2], Is.Zero);
            Assert.That(counts[0] / (double)Draws, Is.EqualTo(0.625).Within(0.015));
        });
    }

    [TestCase(0.5)]
    [TestCase(1.0)]
    [TestCase(2.0)]
    public void Temperature_FrequenciesFollowSoftmaxOfScaledLogits(double temperature)
    {
        float[] logits = [1.0f, 0.5f, 0f, -0.5f, -1f, 0.25f];
        double[] expected = Softmax(logits, temperature);
        var sampler = new TopPSampler { Temperature = (float)temperature, Seed = 2024 };
        const int Draws = 40000;
        int[] counts = Histogram(sampler, logits, Draws);
        // Binomial standard deviation is at most sqrt(0.25 / 40000) = 0.0025; allow 0.012 (~5 sigma).
        for (int i = 0; i < logits.Length; i++)
        {
            Assert.That(counts[i] / (double)Draws, Is.EqualTo(expected[i]).Within(0.012), $"token {i} at temperature {temperature}");
        }
    }

    [Test]
    public void Temperature_Higher_FlattensTheDistribution()
    {
        float[] logits = MakeLogits();
        int[] cold = Histogram(new TopPSampler { Temperature = 0.3f, Seed = 9 }, logits, 5000);
        int[] hot = Histogram(new TopPSampler { Temperature = 3f, Seed = 9 }, logits, 5000);
        Assert.Multiple(() =>
        {
            Assert.That(cold[3], Is.GreaterThan(4500), "at T=0.3 the winner (logit 2.5 vs <= 1) dominates");
            Assert.That(hot[3], Is.LessThan(1000));
            Assert.That(hot.Count(c => c > 0), Is.GreaterThan(cold.Count(c => c > 0)));
        });
    }

    [Test]
    public void Options_OutOfRange_ThrowNamingTheProperty()
    {
        Assert.Multiple(() =>
        {
            Assert.That(() => new TopPSampler { Temperature = -0.1f }, Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("Temperature"));
            Assert.That(() => new TopPSampler { Temperature = float.NaN }, Throws.TypeOf<ArgumentOutOfRangeException>());
            Assert.That(() => new TopPSampler { TopP = 0f }, Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("TopP"));
            Assert.That(() => new TopPSampler { TopP = 1.01f }, Throws.TypeOf<ArgumentOutOfRangeException>());
            Assert.That(() => new TopPSampler { TopK = -1 }, Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("TopK"));
        });
    }
}
