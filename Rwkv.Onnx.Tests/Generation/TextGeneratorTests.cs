using Rwkv.Onnx.Generation;
using Rwkv.Onnx.Sampling;
using Rwkv.Onnx.Tokenization;

namespace Rwkv.Onnx.Tests.Generation;

[TestFixture]
public sealed class TextGeneratorTests
{
    private static RwkvModel Model => GenerationTestModels.Model;

    [Test]
    public void Generate_Greedy_EqualsAHandWrittenStepLoop()
    {
        const string Prompt = "\"in the";
        const int Count = 30;
        var expected = new List<int>();
        using (RwkvState state = Model.CreateState())
        using (RwkvRunner runner = Model.CreateRunner())
        {
            float[] logits = new float[Model.VocabSize];
            foreach (int token in ByteTokenizer.Create().EncodeToIds(Prompt))
            {
                runner.Forward([token], state, logits, RwkvForwardMode.Step);
            }
            for (int i = 0; i < Count; i++)
            {
                int next = Array.IndexOf(logits, logits.Max());
                expected.Add(next);
                runner.Forward([next], state, logits, RwkvForwardMode.Step);
            }
        }

        var pieces = new List<string>();
        GenerationResult result = new TextGenerator(Model, ByteTokenizer.Create())
            .Generate(Prompt, new GenerationOptions { MaxTokens = Count }, pieces.Add);
        Assert.Multiple(() =>
        {
            Assert.That(result.Tokens, Is.EqualTo(expected));
            Assert.That(result.Text, Is.EqualTo(ByteTokenizer.Create().Decode(expected)));
            Assert.That(string.Concat(pieces), Is.EqualTo(result.Text));
            Assert.That(result.PromptTokenCount, Is.EqualTo(7));
            Assert.That(result.GeneratedTokenCount, Is.EqualTo(Count));
            Assert.That(result.PrefillTime, Is.GreaterThan(TimeSpan.Zero));
            Assert.That(result.DecodeTokensPerSecond, Is.GreaterThan(0));
        });
    }

    [Test]
    public void Generate_SeededSampler_IsReproducible()
    {
        var generator = new TextGenerator(Model, ByteTokenizer.Create());
        GenerationResult Run(int seed) => generator.Generate("The", new GenerationOptions
        {
            MaxTokens = 50,
            Sampler = new TopPSampler { Temperature = 1.2f, TopP = 0.95f, Seed = seed },
        });
        IReadOnlyList<int> first = Run(3).Tokens, again = Run(3).Tokens, other = Run(4).Tokens;
        Assert.Multiple(() =>
        {
            Assert.That(again, Is.EqualTo(first));
            Assert.That(other, Is.Not.EqualTo(first));
        });
    }

    [Test]
    public void Generate_ZeroMaxTokens_OnlyPrefills()
    {
        GenerationResult result = new TextGenerator(Model, ByteTokenizer.Create()).Generate("abc", new GenerationOptions { MaxTokens = 0 });
        Assert.Multiple(() =>
        {
            Assert.That(result.Text, Is.Empty);
            Assert.That(result.Tokens, Is.Empty);
            Assert.That(result.PromptTokenCount, Is.EqualTo(3));
            Assert.That(result.DecodeTokensPerSecond, Is.Zero);
        });
    }

    [Test]
    public void Generate_EmptyPrompt_Throws()
    {
        var generator = new TextGenerator(Model, ByteTokenizer.Create());
        Assert.That(() => generator.Generate(""), Throws.ArgumentException.With.Property("ParamName").EqualTo("prompt"));
    }

    [Test]
    public void Options_NegativeMaxTokens_Throws()
    {
        Assert.That(() => new GenerationOptions { MaxTokens = -1 }, Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("MaxTokens"));
    }

    [Test]
    public void RwkvTokenizers_ByteModel_GivesTheByteTokenizer()
    {
        Assert.That(RwkvTokenizers.Load(Model), Is.SameAs(ByteTokenizer.Create()));
    }
}
