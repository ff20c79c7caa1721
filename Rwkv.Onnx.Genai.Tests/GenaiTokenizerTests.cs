using System.Text;
using Microsoft.ML.OnnxRuntimeGenAI;
using Rwkv.Onnx.Export;
using Rwkv.Onnx.Export.RandomCheckpoints;
using Rwkv.Onnx.Tests.Fixtures;
using Rwkv.Onnx.Tokenization;

namespace Rwkv.Onnx.Genai.Tests;

/// <summary>
/// Genai's own tokenizer (onnxruntime-extensions) reading the tokenizer files of a genai export gives our tokenizer's
/// ids on a multilingual corpus, and decodes them back to the text.
/// </summary>
[NonParallelizable]
public sealed class GenaiTokenizerTests
{
    private static readonly string[] s_corpus =
    [
        "Hello world! The quick brown fox jumps over the lazy dog.",
        "你好，世界！今天天气很好，我们去公园散步吧。",
        "こんにちは世界。東京は日本の首都です。カタカナとひらがな。",
        "using System;\n\nclass Program\n{\n    static void Main() => Console.WriteLine(\"hi\\n\");\n}\n",
        "Emoji: 😀😃😄 👍🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️‍🔥",
        "Привет, мир! Ελληνικά. العربية. हिन्दी. 한국어.",
        "\t\ttabs\r\nand \u00a0 odd\u200b spaces\u3000  end",
    ];

    private readonly ScratchRoot _scratch = new("rwkv-genai-tokenizer-");
    private Model _bytes = null!;
    private Model _neoX = null!;
    private Tokenizer _bytesTokenizer = null!;
    private Tokenizer _neoXTokenizer = null!;

    [OneTimeSetUp]
    public void Export()
    {
        _scratch.Create();
        string bytes = Path.Combine(_scratch.Path, "bytes");
        RwkvExporter.Export(SharedFixtures.RwkvCppModel("7v0-834K", "FP32"), bytes, new ExportOptions { Target = ExportTarget.Genai });
        _bytes = new Model(bytes);

        // A one-layer RWKV-4 as wide as 16 with GPT-NeoX's vocabulary: its export gets the neox tokenizer.json.
        string checkpoint = Path.Combine(_scratch.Path, "neox.bin");
        RwkvRandomCheckpoint.Write(checkpoint, "4", layers: 1, embd: 16, headSize: 16, vocab: RwkvTokenizers.GptNeoXVocabularySize, ffn: 32, seed: 5);
        string neoX = Path.Combine(_scratch.Path, "neox");
        RwkvExporter.Export(checkpoint, neoX, new ExportOptions { Target = ExportTarget.Genai });
        _neoX = new Model(neoX);
        _bytesTokenizer = new Tokenizer(_bytes);
        _neoXTokenizer = new Tokenizer(_neoX);
    }

    [OneTimeTearDown]
    public void Delete()
    {
        _bytesTokenizer?.Dispose();
        _neoXTokenizer?.Dispose();
        _bytes?.Dispose();
        _neoX?.Dispose();
        _scratch.Delete();
    }

    [TestCaseSource(nameof(s_corpus))]
    public void ByteLevel_EncodesToUtf8Bytes_AndDecodesBack(string text)
    {
        int[] expected = [.. Encoding.UTF8.GetBytes(text).Select(b => (int)b)];
        Assert.That(ByteTokenizer.Create().EncodeToIds(text), Is.EqualTo(expected), "ours");
        AssertGenaiTokenizes(_bytesTokenizer, text, expected);
    }

    [TestCaseSource(nameof(s_corpus))]
    public void GptNeoX_EncodesToOurIds_AndDecodesBack(string text)
    {
        using Stream json = RwkvTokenizers.OpenBuiltInFile(GptNeoXTokenizer.Kind);
        AssertGenaiTokenizes(_neoXTokenizer, text, [.. GptNeoXTokenizer.Create(json).EncodeToIds(text)]);
    }

    private static void AssertGenaiTokenizes(Tokenizer tokenizer, string text, int[] expected)
    {
        using Sequences sequences = tokenizer.Encode(text);
        Assert.Multiple(() =>
        {
            Assert.That(sequences[0].ToArray(), Is.EqualTo(expected));
            Assert.That(tokenizer.Decode(expected), Is.EqualTo(text));
        });
    }
}
