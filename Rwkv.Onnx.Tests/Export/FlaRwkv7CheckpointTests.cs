using System.Text.Json.Nodes;
using Rwkv.Onnx.Export;
using Rwkv.Onnx.Export.Checkpoints;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Export;

/// <summary>
/// Issue 21, item 1: flash-linear-attention's RWKV-7 Hugging Face layout (<c>rwkv7-variants/hf</c>, converted from the
/// 7v0 <c>.pth</c> with fla's own mapping) reads as exactly the <c>.pth</c>'s tensors, single or sharded, fp32/fp16/bf16,
/// and its config is checked against the weights for what it really says.
/// </summary>
[TestFixture]
public sealed class FlaRwkv7CheckpointTests
{
    private const string Model = "7v0-834K";
    private readonly ScratchRoot _scratch = new("rwkv-fla-rwkv7-");

    [OneTimeSetUp]
    public void CreateScratch() => _scratch.Create();

    [OneTimeTearDown]
    public void DeleteScratch() => _scratch.Delete();

    private static string Fixture(string dtype) => SharedFixtures.Rwkv7Variant($"hf/rwkv7-7v0-834K-{dtype}");

    [TestCase("fp32", "")]
    [TestCase("bf16", "")]
    [TestCase("fp32", "config.json")]
    [TestCase("bf16", "model.safetensors")]
    public void Open_FlaFixture_EqualsThePthTensors(string dtype, string entry)
    {
        using RwkvCheckpoint hf = RwkvCheckpoint.Open(Path.Combine(Fixture(dtype), entry));
        using RwkvCheckpoint pth = RwkvCheckpoint.Open(SharedFixtures.Pth(Model, "fp32"));

        Assert.That(hf.Format, Is.EqualTo("hf-safetensors"));
        CanonicalAssert.SameTensors(hf, pth); // bf16: the 7v0 values are all bf16-representable (fixtures README)
    }

    [Test]
    public void Open_ShardedFp16Directory_ReadsEveryShard()
    {
        // Two shards plus an index, as transformers writes large models; stored as fp16 to cover the third dtype.
        string directory = _scratch.CreateDirectory();
        File.Copy(Path.Combine(Fixture("fp32"), "config.json"), Path.Combine(directory, "config.json"));
        using SafetensorsReader source = SafetensorsReader.Open(Path.Combine(Fixture("fp32"), "model.safetensors"));
        CheckpointTensor[][] halves = [[.. source.Tensors.Take(200)], [.. source.Tensors.Skip(200)]];
        var map = new JsonObject();
        for (int shard = 0; shard < 2; shard++)
        {
            string file = $"model-0000{shard + 1}-of-00002.safetensors";
            SafetensorsWriter.Write(Path.Combine(directory, file),
                halves[shard].Select(t => new SafetensorsWriter.Tensor(t.Name, TensorDType.Float16, [.. t.Shape], t.ReadFloat32())));
            foreach (CheckpointTensor t in halves[shard])
            {
                map[t.Name] = file;
            }
        }
        File.WriteAllText(Path.Combine(directory, "model.safetensors.index.json"),
            new JsonObject { ["metadata"] = new JsonObject(), ["weight_map"] = map }.ToJsonString());

        using RwkvCheckpoint sharded = RwkvCheckpoint.Open(directory);
        using RwkvCheckpoint pth = RwkvCheckpoint.Open(SharedFixtures.Pth(Model, "fp32"));

        Assert.That(sharded.Files, Has.Count.EqualTo(2));
        Assert.That(sharded.Tensors.Values.Select(t => t.DType).Distinct(), Is.EqualTo(new[] { TensorDType.Float16 }));
        CanonicalAssert.SameTensors(sharded, pth);
    }

    [Test]
    public void Inspect_ConfigSaysNumHeads32_HeadsComeFromHeadDim()
    {
        // fla's converter writes num_heads 32 whatever the model; the model has hidden_size / head_dim = 64 / 64 = 1 head.
        Assert.That(JsonNode.Parse(File.ReadAllText(Path.Combine(Fixture("fp32"), "config.json")))!["num_heads"]!.GetValue<int>(), Is.EqualTo(32));

        RwkvCheckpointInfo info = RwkvExporter.Inspect(Fixture("fp32"));

        Assert.That((info.Architecture.Heads, info.Architecture.HeadSize, info.Architecture.Layers), Is.EqualTo((1, 64, 12)));
    }

    [TestCase("head_dim", "32", "head_dim 32", "blocks.0.att.r_k")]
    [TestCase("hidden_size", "128", "hidden_size 128", "emb.weight")]
    [TestCase("num_hidden_layers", "11", "num_hidden_layers 11", null)]
    [TestCase("decay_low_rank_dim", "64", "decay_low_rank_dim 64", "blocks.0.att.w1")]
    [TestCase("v_low_rank_dim", "16", "v_low_rank_dim 16", "blocks.1.att.v1")]
    [TestCase("value_dim", "[64, 32]", "value_dim [64,32]", null)]
    [TestCase("attn", "{\"layers\": [1]}", "hybrid model", null)]
    [TestCase("norm_eps", "1e-6", "norm_eps 1e-6", null)]
    public void Open_ConfigDisagreeingWithTheWeights_FailsNamingTheField(string field, string json, string expected, string? tensor)
    {
        string directory = _scratch.CreateDirectory();
        File.Copy(Path.Combine(Fixture("bf16"), "model.safetensors"), Path.Combine(directory, "model.safetensors"));
        JsonObject config = JsonNode.Parse(File.ReadAllText(Path.Combine(Fixture("bf16"), "config.json")))!.AsObject();
        config[field] = JsonNode.Parse(json);
        string configPath = Path.Combine(directory, "config.json");
        File.WriteAllText(configPath, config.ToJsonString());

        var e = Assert.Throws<CheckpointFormatException>(() => RwkvCheckpoint.Open(directory).Dispose());

        Assert.That(e!.Message, Does.StartWith($"Model config '{configPath}'").And.Contain(expected));
        Assert.That(e.TensorName, Is.EqualTo(tensor));
    }

    [Test]
    public void Open_FlaFileWithADeaTensor_IsRefusedNamingIt()
    {
        string directory = _scratch.CreateDirectory();
        using (var raw = SafetensorsReader.Open(Path.Combine(Fixture("fp32"), "model.safetensors")))
        {
            SafetensorsWriter.Write(Path.Combine(directory, "model.safetensors"), raw.Tensors
                .Select(t => new SafetensorsWriter.Tensor(t.Name, t.DType, [.. t.Shape], t.ReadFloat32()))
                .Append(new SafetensorsWriter.Tensor("model.layers.0.qkv.qq.weight", TensorDType.Float32, [256, 64], new float[256 * 64])));
        }
        File.Copy(Path.Combine(Fixture("fp32"), "config.json"), Path.Combine(directory, "config.json"));

        var e = Assert.Throws<CheckpointFormatException>(() => RwkvCheckpoint.Open(directory).Dispose());

        Assert.That(e!.Message, Does.Contain("holds 'model.layers.0.qkv.qq.weight', a DeepEmbedAttention (RWKV-7b) tensor in the flash-linear-attention layout"));
        Assert.That(e.TensorName, Is.EqualTo("model.layers.0.qkv.qq.weight"));
    }

    [Test]
    public void Export_FlaDirectory_RecordsItsSource()
    {
        string output = Path.Combine(_scratch.CreateDirectory(), "model");

        RwkvManifest manifest = RwkvExporter.Export(Fixture("bf16"), output, new ExportOptions());

        Assert.That((manifest.Source.Format, manifest.Source.File, manifest.Architecture.Version), Is.EqualTo(("hf-safetensors", "rwkv7-7v0-834K-bf16", "7")));
    }
}
