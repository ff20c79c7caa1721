using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Rwkv.Onnx.Export.Checkpoints;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Export;

[TestFixture]
public sealed partial class HuggingFaceCheckpointTests
{
    private const string V4 = "4v0-660K";
    private string _directory = "";

    private static string FixtureDirectory => Path.Combine(SharedFixtures.FixturesDirectory, "hf", "rwkv-4-tiny-660K");

    [SetUp]
    public void SetUp()
    {
        _directory = Path.Combine(Path.GetTempPath(), "rwkv-onnx-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_directory);
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_directory, recursive: true);

    public static readonly TestCaseData[] FixtureEntries =
    [
        new TestCaseData("", "hf-safetensors", "model.safetensors").SetArgDisplayNames("directory"),
        new TestCaseData("config.json", "hf-safetensors", "model.safetensors").SetArgDisplayNames("config.json"),
        new TestCaseData("model.safetensors", "hf-safetensors", "model.safetensors").SetArgDisplayNames("model.safetensors"),
        new TestCaseData("pytorch_model.bin", "hf-pth", "pytorch_model.bin").SetArgDisplayNames("pytorch_model.bin"),
    ];

    [TestCaseSource(nameof(FixtureEntries))]
    public void Open_HuggingFaceFixture_EqualsThePthFp16Tensors(string entry, string format, string weights)
    {
        // The HF fixture was converted from tiny-rwkv-4v0-660K-fp16.pth by renaming only (fixtures README §3).
        using RwkvCheckpoint hf = RwkvCheckpoint.Open(Path.Combine(FixtureDirectory, entry));
        using RwkvCheckpoint pth = RwkvCheckpoint.Open(SharedFixtures.Pth(V4, "fp16"));

        using (Assert.EnterMultipleScope())
        {
            Assert.That(hf.Format, Is.EqualTo(format));
            Assert.That(hf.Files.Select(Path.GetFileName), Is.EqualTo(new[] { weights }));
            Assert.That(hf.RescaleEvery, Is.EqualTo(6));
            Assert.That(hf.Get("blocks.0.att.time_mix_k").Shape, Is.EqualTo(new long[] { 1, 1, 128 }));
        }
        CanonicalAssert.SameTensors(hf, pth);
    }

    [Test]
    public void Open_DirectoryWithOnlyPytorchModelBin_UsesIt()
    {
        CopyFixture("config.json", "pytorch_model.bin");

        using RwkvCheckpoint checkpoint = RwkvCheckpoint.Open(_directory);

        Assert.That(checkpoint.Format, Is.EqualTo("hf-pth"));
        Assert.That(checkpoint.Path, Is.EqualTo(_directory));
    }

    [TestCase(false)]
    [TestCase(true)]
    public void Open_ShardedDirectory_ReadsEveryShard(bool safetensors)
    {
        // Split the fixture's tensors over two shards plus an index, as transformers does for large models.
        CopyFixture("config.json");
        using SafetensorsReader source = SafetensorsReader.Open(Path.Combine(FixtureDirectory, "model.safetensors"));
        CheckpointTensor[][] halves = [[.. source.Tensors.Take(40)], [.. source.Tensors.Skip(40)]];
        string extension = safetensors ? "safetensors" : "bin";
        string prefix = safetensors ? "model" : "pytorch_model";
        var map = new JsonObject();
        for (int shard = 0; shard < 2; shard++)
        {
            string file = $"{prefix}-0000{shard + 1}-of-00002.{extension}";
            string path = Path.Combine(_directory, file);
            if (safetensors)
            {
                SafetensorsWriter.Write(path, halves[shard].Select(t => new SafetensorsWriter.Tensor(t.Name, t.DType, [.. t.Shape], t.ReadFloat32())));
            }
            else
            {
                var storages = halves[shard].Select((t, i) => (Key: i.ToString(), Storage: new TorchZipWriter.Storage(t.DType, t.ReadFloat32()))).ToDictionary(p => p.Key, p => p.Storage);
                TorchZipWriter.WriteStateDict(path, [.. halves[shard].Select((t, i) => TorchZipWriter.TensorView.Contiguous(t.Name, i.ToString(), [.. t.Shape]))], storages);
            }
            foreach (CheckpointTensor t in halves[shard])
            {
                map[t.Name] = file;
            }
        }
        File.WriteAllText(Path.Combine(_directory, $"{prefix}.{extension}.index.json"), new JsonObject { ["metadata"] = new JsonObject(), ["weight_map"] = map }.ToJsonString());

        using RwkvCheckpoint sharded = RwkvCheckpoint.Open(_directory);
        using RwkvCheckpoint pth = RwkvCheckpoint.Open(SharedFixtures.Pth(V4, "fp16"));

        Assert.That(sharded.Format, Is.EqualTo(safetensors ? "hf-safetensors" : "hf-pth"));
        Assert.That(sharded.Files, Has.Count.EqualTo(2));
        CanonicalAssert.SameTensors(sharded, pth);
    }

    [TestCase("hidden_size", 64, "hidden_size 64", "emb.weight")]
    [TestCase("vocab_size", 300, "vocab_size 300", "emb.weight")]
    [TestCase("num_hidden_layers", 5, "num_hidden_layers 5, but the weights", null)]
    [TestCase("intermediate_size", 512, "intermediate_size 512", "blocks.0.ffn.key.weight")]
    [TestCase("attention_hidden_size", 96, "attention_hidden_size 96", "blocks.0.att.key.weight")]
    public void Open_ConfigDisagreeingWithTheWeights_NamesFieldAndTensor(string field, int value, string expected, string? tensor)
    {
        CopyFixture("model.safetensors");
        WriteConfig(config => config[field] = value);

        CheckpointFormatException? e = Assert.Throws<CheckpointFormatException>(() => RwkvCheckpoint.Open(_directory));

        using (Assert.EnterMultipleScope())
        {
            Assert.That(e!.Message, Does.Contain(expected).And.Contain("config.json"));
            Assert.That(e.TensorName, Is.EqualTo(tensor));
        }
    }

    [Test]
    public void Open_ConfigOfAnotherModelType_IsRefused()
    {
        CopyFixture("model.safetensors");
        WriteConfig(config => config["model_type"] = "rwkv5");

        Assert.That(Assert.Throws<CheckpointFormatException>(() => RwkvCheckpoint.Open(_directory))!.Message,
            Does.Contain("model_type 'rwkv5'").And.Contain("RWKV-4"));
    }

    [Test]
    public void Open_ConfigWithoutRescaleEvery_LeavesItNull()
    {
        CopyFixture("model.safetensors");
        WriteConfig(config => config.Remove("rescale_every"));

        using RwkvCheckpoint checkpoint = RwkvCheckpoint.Open(_directory);

        Assert.That(checkpoint.RescaleEvery, Is.Null);
    }

    [Test]
    public void Open_DirectoryWithoutConfig_SaysItIsNotAHuggingFaceModel()
    {
        CopyFixture("model.safetensors");

        Assert.That(Assert.Throws<CheckpointFormatException>(() => RwkvCheckpoint.Open(_directory))!.Message,
            Does.Contain("not a Hugging Face model").And.Contain("config.json"));
    }

    [Test]
    public void Open_DirectoryWithoutWeights_ListsWhatItLookedFor()
    {
        CopyFixture("config.json");

        Assert.That(Assert.Throws<CheckpointFormatException>(() => RwkvCheckpoint.Open(_directory))!.Message,
            Does.Contain("has no weights").And.Contain("model.safetensors").And.Contain("pytorch_model.bin"));
    }

    [Test]
    public void Open_CorruptConfigJson_IsRefused()
    {
        CopyFixture("model.safetensors");
        File.WriteAllText(Path.Combine(_directory, "config.json"), "{\"model_type\": \"rwkv\", ");

        Assert.That(Assert.Throws<CheckpointFormatException>(() => RwkvCheckpoint.Open(_directory))!.Message, Does.Contain("not valid JSON"));
    }

    [TestCase("rwkv.embeddings.weight", "emb.weight")]
    [TestCase("rwkv.blocks.0.pre_ln.bias", "blocks.0.ln0.bias")]
    [TestCase("rwkv.blocks.11.attention.time_mix_key", "blocks.11.att.time_mix_k")]
    [TestCase("rwkv.blocks.2.attention.time_mix_value", "blocks.2.att.time_mix_v")]
    [TestCase("rwkv.blocks.3.feed_forward.time_mix_receptance", "blocks.3.ffn.time_mix_r")]
    [TestCase("rwkv.blocks.3.attention.output.weight", "blocks.3.att.output.weight")]
    [TestCase("rwkv.blocks.0.attention.time_decay", "blocks.0.att.time_decay")]
    [TestCase("rwkv.ln_out.weight", "ln_out.weight")]
    [TestCase("head.weight", "head.weight")]
    public void CanonicalName_MapsTransformersNames(string huggingFace, string canonical)
    {
        Assert.That(HuggingFaceLayout.CanonicalName(huggingFace), Is.EqualTo(canonical));
    }

    [Test]
    public void CanonicalName_InvertsTheConversionScriptOnEveryV4Name()
    {
        // transformers' convert_rwkv_checkpoint_to_hf.py, written out: the forward direction.
        static string ToHuggingFace(string name)
        {
            if (name.StartsWith("emb.", StringComparison.Ordinal))
            {
                name = name.Replace("emb.", "embeddings.", StringComparison.Ordinal);
            }
            if (name.StartsWith("blocks.0.ln0", StringComparison.Ordinal))
            {
                name = name.Replace("blocks.0.ln0", "blocks.0.pre_ln", StringComparison.Ordinal);
            }
            name = AttentionRegex().Replace(name, "blocks.$1.attention");
            name = FfnRegex().Replace(name, "blocks.$1.feed_forward");
            foreach ((string from, string to) in (ReadOnlySpan<(string, string)>)[(".time_mix_k", ".time_mix_key"), (".time_mix_v", ".time_mix_value"), (".time_mix_r", ".time_mix_receptance")])
            {
                if (name.EndsWith(from, StringComparison.Ordinal))
                {
                    name = name.Replace(from, to, StringComparison.Ordinal);
                }
            }
            return name == "head.weight" ? name : "rwkv." + name;
        }
        using RwkvCheckpoint pth = RwkvCheckpoint.Open(SharedFixtures.Pth(V4, "fp32"));

        using (Assert.EnterMultipleScope())
        {
            foreach (string name in pth.Tensors.Keys)
            {
                Assert.That(HuggingFaceLayout.CanonicalName(ToHuggingFace(name)), Is.EqualTo(name));
            }
        }
    }

    private void CopyFixture(params string[] files)
    {
        foreach (string file in files)
        {
            File.Copy(Path.Combine(FixtureDirectory, file), Path.Combine(_directory, file));
        }
    }

    private void WriteConfig(Action<JsonObject> edit)
    {
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(FixtureDirectory, "config.json")))!.AsObject();
        edit(config);
        File.WriteAllText(Path.Combine(_directory, "config.json"), config.ToJsonString());
    }

    [GeneratedRegex(@"blocks\.(\d+)\.att")]
    private static partial Regex AttentionRegex();

    [GeneratedRegex(@"blocks\.(\d+)\.ffn")]
    private static partial Regex FfnRegex();
}
