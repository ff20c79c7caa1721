using System.Text.Json.Nodes;
using Rwkv.Onnx.Exceptions;
using Rwkv.Onnx.Generation;

namespace Rwkv.Onnx.Tests.Generation;

/// <summary>
/// The chat template a model's manifest records (<c>generation.chat_template</c>) is the one our chat uses, so an
/// outside client that follows the manifest formats turns as we do; older manifests fall back to the tokenizer's.
/// </summary>
[TestFixture]
public sealed class ChatTemplateManifestTests
{
    private static string ManifestPath => Path.Combine(GenerationTestModels.Directory, RwkvContract.ManifestFile);

    private static RwkvManifest Edited(Action<JsonObject> edit)
    {
        JsonObject json = JsonNode.Parse(File.ReadAllText(ManifestPath))!.AsObject();
        edit(json);
        return RwkvManifest.FromJson(json.ToJsonString(), ManifestPath);
    }

    [Test]
    public void ForManifest_RecordedTemplate_IsTheOneUsed()
    {
        RwkvManifest manifest = Edited(m =>
        {
            JsonObject template = m["generation"]!["chat_template"]!.AsObject();
            template["name"] = "qa";
            template["user_prefix"] = "Q: ";
            template["assistant_prefix"] = "A:";
            template["stop_strings"] = new JsonArray("\nQ:");
        });

        ChatTemplate template = ChatTemplate.ForManifest(manifest);

        Assert.That(template.FormatTurn("Why?"), Is.EqualTo("Q: Why?\n\nA:"));
        Assert.That(template.StopStrings, Is.EqualTo(new[] { "\nQ:" }));
    }

    [Test]
    public void ForManifest_WithoutGeneration_FallsBackToTheTokenizerKind()
    {
        RwkvManifest manifest = Edited(m => m.Remove("generation"));

        Assert.That(manifest.Generation, Is.Null);
        Assert.That(ChatTemplate.ForManifest(manifest), Is.SameAs(ChatTemplate.ForTokenizerKind(manifest.Tokenizer.Kind)));
    }

    [Test]
    public void ExportedTemplate_RoundTripsToTheBuiltInOne()
    {
        ChatTemplate recorded = ChatTemplate.ForManifest(GenerationTestModels.Model.Manifest);

        Assert.That(recorded.ToInfo(), Is.EqualTo(ChatTemplate.World.ToInfo()).Using<RwkvChatTemplateInfo>((a, b) =>
            a.Name == b.Name && a.Preamble == b.Preamble && a.UserPrefix == b.UserPrefix && a.AssistantPrefix == b.AssistantPrefix
            && a.TurnSeparator == b.TurnSeparator && a.StopStrings.SequenceEqual(b.StopStrings)));
    }

    [Test]
    public void ChatSession_WithoutTemplate_TakesTheManifests()
    {
        string copy = Directory.CreateTempSubdirectory("rwkv-chat-template-").FullName;
        try
        {
            foreach (string file in Directory.GetFiles(GenerationTestModels.Directory))
            {
                File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
            }
            JsonObject json = JsonNode.Parse(File.ReadAllText(ManifestPath))!.AsObject();
            json["generation"]!["chat_template"]!["user_prefix"] = "Q: ";
            File.WriteAllText(Path.Combine(copy, RwkvContract.ManifestFile), json.ToJsonString());

            using TextGenerator generator = TextGenerator.Load(copy);
            using var chat = new ChatSession(generator);

            Assert.That(chat.Template.UserPrefix, Is.EqualTo("Q: "));
        }
        finally
        {
            Directory.Delete(copy, recursive: true);
        }
    }

    [TestCase("stop_strings", "generation.chat_template.stop_strings")]
    [TestCase("user_prefix", "generation.chat_template.user_prefix")]
    public void FromJson_DamagedTemplate_NamesTheKey(string key, string named)
    {
        var e = Assert.Throws<ModelContractException>(() => Edited(m =>
        {
            JsonObject template = m["generation"]!["chat_template"]!.AsObject();
            if (key == "stop_strings")
            {
                template[key] = new JsonArray("");
            }
            else
            {
                template[key] = null;
            }
        }));
        Assert.That(e!.Message, Does.Contain(named));
    }

    [Test]
    public void FromJson_StopIdOutsideTheVocabulary_Fails()
    {
        var e = Assert.Throws<ModelContractException>(() => Edited(m => m["generation"]!["stop_token_ids"] = new JsonArray(256)));
        Assert.That(e!.Message, Does.Contain("outside the vocabulary of 256"));
    }
}
