using Rwkv.Onnx.Export;
using Rwkv.Onnx.Export.Proto;
using Rwkv.Onnx.Export.RandomCheckpoints;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Export;

/// <summary>
/// The manifest keys for outside clients: what each graph needs from ONNX Runtime (read back from the written graphs),
/// the oldest release that runs the directory, and the generation block (stop ids, chat template, sampling).
/// </summary>
[TestFixture]
public sealed class ExportContractTests
{
    private static readonly ScratchRoot s_root = new("rwkv-export-contract-");

    [OneTimeSetUp]
    public void OneTimeSetUp() => s_root.Create();

    [OneTimeTearDown]
    public void OneTimeTearDown() => s_root.Delete();

    private static (string Directory, RwkvManifest Manifest) Export(ExportOptions options, string? checkpoint = null)
    {
        string output = Path.Combine(s_root.CreateDirectory(), "model");
        RwkvManifest manifest = RwkvExporter.Export(checkpoint ?? SharedFixtures.RwkvCppModel("7v0-834K", "FP32"), output, options);
        return (output, manifest);
    }

    [TestCase(WeightDType.Float32)]
    [TestCase(WeightDType.Float16)]
    [TestCase(WeightDType.Int8)]
    [TestCase(WeightDType.Int4)]
    public void Export_EachGraph_RecordsTheOpsetImportsAndCustomOpsOfTheWrittenFile(WeightDType dtype)
    {
        (string directory, RwkvManifest manifest) = Export(new ExportOptions { WeightDType = dtype });

        Assert.Multiple(() =>
        {
            foreach (RwkvGraphInfo graph in new[] { manifest.StepGraph, manifest.PrefillGraph, manifest.StateCopyGraph })
            {
                ModelProto model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(directory, graph.File)));
                var written = model.OpsetImport.Select(i => (i.Domain.Length == 0 ? "ai.onnx" : i.Domain, (int)i.Version)).ToList();
                var customOps = Nodes(model.Graph).Where(n => n.Domain.Length > 0).Select(n => (n.Domain, n.OpType)).Distinct().ToList();

                Assert.That(graph.OpsetImports!.Select(i => (i.Domain, i.Version)), Is.EquivalentTo(written), graph.File);
                Assert.That(graph.CustomOps!.Select(o => (o.Domain, o.OpType)), Is.EquivalentTo(customOps), graph.File);
            }
        });
    }

    // Measured with onnxruntime-node on these tiny exports (CONTRACT.md): 1.11.0 refuses opset 17 and 1.12.1 runs fp32
    // and fp16; 1.17.0 crashes on int4 and 1.18.0 runs it; 1.21.0 refuses MatMulNBits with 8 bits and 1.22.0 runs it.
    [TestCase(WeightDType.Float32, null, "1.12.0", null)]
    [TestCase(WeightDType.Float16, null, "1.12.0", null)]
    [TestCase(WeightDType.Int4, WeightDType.Int4, "1.18.0", "1.18.0")]
    [TestCase(WeightDType.Int4, null, "1.22.0", "1.22.0")] // the int4 default has an int8 head
    [TestCase(WeightDType.Int8, null, "1.22.0", "1.22.0")]
    [TestCase(WeightDType.Int4, WeightDType.Int8, "1.22.0", "1.22.0")]
    public void Export_DType_RecordsTheOldestOnnxRuntimeThatRunsIt(WeightDType dtype, WeightDType? head, string minimum, string? matMulNBits)
    {
        (_, RwkvManifest manifest) = Export(new ExportOptions { WeightDType = dtype, HeadWeightDType = head });

        Assert.That(manifest.MinOnnxRuntimeVersion, Is.EqualTo(minimum));
        Assert.That(manifest.StepGraph.CustomOps!.Select(o => $"{o.Domain}.{o.OpType} {o.MinOnnxRuntimeVersion}"),
            Is.EqualTo(matMulNBits is null ? Array.Empty<string>() : new[] { $"com.microsoft.MatMulNBits {matMulNBits}" }));
        Assert.That(manifest.StateCopyGraph.CustomOps, Is.Empty, "the state copy is plain ONNX in every dtype");
    }

    [Test]
    public void Export_ByteLevelModel_RecordsNoStopTokenAndTheWorldChatTemplate()
    {
        (_, RwkvManifest manifest) = Export(new ExportOptions());

        RwkvGenerationInfo generation = manifest.Generation!;
        Assert.Multiple(() =>
        {
            Assert.That(generation.EndOfTextId, Is.Null);
            Assert.That(generation.StopTokenIds, Is.Empty);
            Assert.That(generation.ChatTemplate.Name, Is.EqualTo("world"));
            Assert.That(generation.ChatTemplate.UserPrefix, Is.EqualTo("User: "));
            Assert.That(generation.ChatTemplate.AssistantPrefix, Is.EqualTo("Assistant:"));
            Assert.That(generation.ChatTemplate.StopStrings, Is.EqualTo(new[] { "\n\n" }));
        });
    }

    [TestCase(65536, "world", TestName = "Export_WorldVocabulary_RecordsEndOfText0AndTheWorldTemplate")]
    [TestCase(50277, "alpaca", TestName = "Export_PileVocabulary_RecordsEndOfText0AndTheAlpacaTemplate")]
    public void Export_BuiltInTokenizer_RecordsItsEndOfTextAsTheStopToken(int vocab, string template)
    {
        string checkpoint = Path.Combine(s_root.CreateDirectory(), "random.bin");
        if (vocab == 65536)
        {
            RandomCheckpoint.WriteRwkv7(checkpoint, layers: 2, embd: 32, headSize: 32, vocab: vocab, ffn: 64, loraW: 8, loraA: 8, loraV: 8, loraG: 8, seed: 1);
        }
        else
        {
            RandomCheckpoint.WriteRwkv4(checkpoint, layers: 1, embd: 32, vocab: vocab, ffn: 64, seed: 2);
        }

        (_, RwkvManifest manifest) = Export(new ExportOptions(), checkpoint);

        // Token 0 is <|endoftext|> in GPT-NeoX-20B's tokenizer.json and the end of a document in the World vocabulary.
        Assert.That(manifest.Generation!.EndOfTextId, Is.Zero);
        Assert.That(manifest.Generation.StopTokenIds, Is.EqualTo(new[] { 0 }));
        Assert.That(manifest.Generation.ChatTemplate.Name, Is.EqualTo(template));
    }

    [Test]
    public void Export_RecordsChatRwkvSamplingForChatAndTheGenerateDefaults()
    {
        (_, RwkvManifest manifest) = Export(new ExportOptions());

        RwkvSamplingPresets sampling = manifest.Generation!.Sampling;
        Assert.Multiple(() =>
        {
            // ChatRWKV's chat: temperature 1, top-p 0.3, presence and frequency penalties 0.5, decay 0.996.
            Assert.That((sampling.Chat.Temperature, sampling.Chat.TopP, sampling.Chat.PresencePenalty, sampling.Chat.FrequencyPenalty, sampling.Chat.PenaltyDecay),
                Is.EqualTo((1f, 0.3f, 0.5f, 0.5f, 0.996f)));
            Assert.That((sampling.Completion.Temperature, sampling.Completion.TopP, sampling.Completion.PresencePenalty, sampling.Completion.FrequencyPenalty),
                Is.EqualTo((1f, 0.85f, 0f, 0f)));
        });
    }

    private static IEnumerable<NodeProto> Nodes(GraphProto graph) =>
        graph.Node.SelectMany(n => new[] { n }.Concat(n.Attribute.Where(a => a.G is not null).SelectMany(a => Nodes(a.G))));
}
