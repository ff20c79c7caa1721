using Rwkv.Onnx.Exceptions;
using Rwkv.Onnx.Tests.Fixtures;
using Rwkv.Onnx.Tokenization;

namespace Rwkv.Onnx.Tests.Tokenization;

public class RwkvTokenizersTests
{
    private static string TokenizersDirectory => Path.GetDirectoryName(SharedFixtures.Tokenizer("rwkv_vocab_v20230424.txt"))!;

    // A manifest for a model of the given vocabulary whose tokenizer is a file of ../shared/tokenizers.
    internal static RwkvManifest Manifest(string kind, string? file, int vocab) => new()
    {
        FormatVersion = RwkvContract.FormatVersion,
        Architecture = new RwkvArchitectureInfo
        {
            Version = "7",
            Layers = 1,
            Embedding = 64,
            Heads = 1,
            HeadSize = 64,
            Vocab = vocab,
            FfnSize = 256,
            Parameters = 1,
            LayerNormEpsilon = 1e-5f,
            GroupNormEpsilon = 64e-5f,
        },
        WeightDType = "fp32",
        Opset = 17,
        IrVersion = 8,
        StepGraph = new RwkvGraphInfo { File = RwkvContract.StepGraphFile, Inputs = [], Outputs = [] },
        PrefillGraph = new RwkvGraphInfo { File = RwkvContract.PrefillGraphFile, Inputs = [], Outputs = [] },
        StateCopyGraph = new RwkvGraphInfo { File = RwkvContract.StateCopyGraphFile, Inputs = [], Outputs = [] },
        Weights = new RwkvFileInfo { File = RwkvContract.WeightsFile, Bytes = 0, Sha256 = "", Tensors = [] },
        State = [],
        Activations = new RwkvActivationInfo { StepFloatsPerSequence = 1, PrefillFloatsPerToken = 1, WkvChunkLength = 0, WkvChunkFloatsPerToken = 0 },
        Tokenizer = new RwkvTokenizerInfo { Kind = kind, File = file },
        Source = new RwkvSourceInfo { File = "x.bin", Format = "rwkv.cpp", Sha256 = "" },
    };

    [Test]
    public void Load_WorldManifest_GivesTheWorldTokenizer()
    {
        ByteLevelTokenizer tokenizer = RwkvTokenizers.Load(Manifest("world", "rwkv_vocab_v20230424.txt", 65536), TokenizersDirectory);
        Assert.That(tokenizer, Is.TypeOf<RwkvWorldTokenizer>());
        Assert.That(tokenizer.EncodeToIds("Hello world"), Is.EqualTo(new[] { 33155, 40213 }));
    }

    [Test]
    public void Load_NeoXManifest_GivesTheNeoXTokenizer()
    {
        ByteLevelTokenizer tokenizer = RwkvTokenizers.Load(Manifest("neox", "20B_tokenizer.json", 50277), TokenizersDirectory);
        Assert.That(tokenizer, Is.TypeOf<GptNeoXTokenizer>());
        Assert.That(tokenizer.EncodeToIds("Hello world"), Is.EqualTo(new[] { 12092, 1533 }));
    }

    [Test]
    public void Load_TokenizerLargerThanModelVocabulary_Throws()
    {
        var e = Assert.Throws<ModelContractException>(() => RwkvTokenizers.Load(Manifest("world", "rwkv_vocab_v20230424.txt", 256), TokenizersDirectory));
        Assert.That(e!.Message, Does.Contain("65536 tokens").And.Contain("vocabulary of 256"));
    }

    [TestCase("world", null, "names no tokenizer file")]
    [TestCase("neox", "missing.json", "missing.json")]
    [TestCase("sentencepiece", null, "'sentencepiece', which is not supported")]
    public void Load_BadTokenizerEntry_ThrowsModelContractException(string kind, string? file, string message)
    {
        var e = Assert.Throws<ModelContractException>(() => RwkvTokenizers.Load(Manifest(kind, file, 65536), TokenizersDirectory));
        Assert.That(e!.Message, Does.Contain(message));
    }

    [Test]
    public void DetectKind_TellsWorldFromJson_AndRejectsOtherFiles()
    {
        string other = Path.Combine(Path.GetTempPath(), $"not-a-tokenizer-{Guid.NewGuid():N}.txt");
        File.WriteAllText(other, "hello\n");
        try
        {
            Assert.Multiple(() =>
            {
                Assert.That(RwkvTokenizers.DetectKind(SharedFixtures.Tokenizer("rwkv_vocab_v20230424.txt")), Is.EqualTo("world"));
                Assert.That(RwkvTokenizers.DetectKind(SharedFixtures.Tokenizer("20B_tokenizer.json")), Is.EqualTo("neox"));
                Assert.That(() => RwkvTokenizers.DetectKind(other), Throws.TypeOf<InvalidDataException>().With.Message.Contains("neither"));
                Assert.That(() => RwkvTokenizers.LoadFile(other + ".missing"), Throws.TypeOf<FileNotFoundException>());
            });
        }
        finally
        {
            File.Delete(other);
        }
    }
}
