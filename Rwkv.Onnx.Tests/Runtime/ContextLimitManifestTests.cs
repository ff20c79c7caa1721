using System.Text.Json.Nodes;
using Rwkv.Onnx.Exceptions;
using Rwkv.Onnx.Export;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Runtime;

/// <summary>
/// format_version 3 (a state with a token capacity, RWKV-7b) and its <c>context_limit</c> are read together or not at
/// all: a reader of format 2 refuses format 3 by its version, so this reader must not take a context limit in format 2
/// (an older reader would ignore it) nor format 3 without one, and must name the version it cannot read.
/// </summary>
[TestFixture]
public sealed class ContextLimitManifestTests
{
    private readonly ScratchRoot _scratch = new("rwkv-context-limit-");
    private string _deaManifest = "";
    private string _plainManifest = "";

    [OneTimeSetUp]
    public void ExportOnce()
    {
        _scratch.Create();
        string dea = Path.Combine(_scratch.CreateDirectory(), "model");
        RwkvExporter.Export(SharedFixtures.Rwkv7Variant("tiny-rwkv-7b-dea-L2.pth"), dea, new ExportOptions { ContextLimit = 40 });
        _deaManifest = File.ReadAllText(Path.Combine(dea, RwkvContract.ManifestFile));
        string plain = Path.Combine(_scratch.CreateDirectory(), "model");
        RwkvExporter.Export(SharedFixtures.Rwkv7Variant("tiny-rwkv-7a-de-L2.pth"), plain, new ExportOptions());
        _plainManifest = File.ReadAllText(Path.Combine(plain, RwkvContract.ManifestFile));
    }

    [OneTimeTearDown]
    public void DeleteScratch() => _scratch.Delete();

    [Test]
    public void Export_OfAFixedSizeState_KeepsFormat2WithoutAContextLimit()
    {
        JsonObject manifest = JsonNode.Parse(_plainManifest)!.AsObject();

        Assert.That((int)manifest["format_version"]!, Is.EqualTo(2));
        Assert.That(manifest.ContainsKey("context_limit"), Is.False);
        Assert.That(manifest["state"]!.AsArray().Select(t => (string)t!["slot"]!).Distinct(), Is.EqualTo(new[] { "att_shift", "wkv", "ffn_shift" }));
    }

    [Test]
    public void FromJson_DeaExport_ReadsTheContextLimit() =>
        Assert.That(RwkvManifest.FromJson(_deaManifest, "m.json").ContextLimit!.MaxTokens, Is.EqualTo(40));

    [Test]
    public void FromJson_Format3WithoutAContextLimit_FailsNamingIt()
    {
        JsonObject manifest = JsonNode.Parse(_deaManifest)!.AsObject();
        manifest.Remove("context_limit");

        var e = Assert.Throws<ModelContractException>(() => RwkvManifest.FromJson(manifest.ToJsonString(), "m.json"));

        Assert.That(e!.Message, Does.Contain("has format_version 3 but no 'context_limit'"));
    }

    [Test]
    public void FromJson_AContextLimitInFormat2_FailsNamingIt()
    {
        JsonObject manifest = JsonNode.Parse(_deaManifest)!.AsObject();
        manifest["format_version"] = 2;

        var e = Assert.Throws<ModelContractException>(() => RwkvManifest.FromJson(manifest.ToJsonString(), "m.json"));

        Assert.That(e!.Message, Does.Contain("has a 'context_limit' but format_version 2; a state with a token capacity needs format_version 3"));
    }

    [Test]
    public void FromJson_ALengthSlotThatIsNotAOneElementStateTensor_FailsNamingIt()
    {
        JsonObject manifest = JsonNode.Parse(_deaManifest)!.AsObject();
        manifest["context_limit"]!["length_slot"] = "dea_q";

        var e = Assert.Throws<ModelContractException>(() => RwkvManifest.FromJson(manifest.ToJsonString(), "m.json"));

        Assert.That(e!.Message, Does.Contain("names 'dea_q' as context_limit.length_slot; expected a state slot of shape [1] in layer 0"));
    }

    [Test]
    public void FromJson_ANewerFormat_NamesTheVersionsThisRuntimeReads()
    {
        JsonObject manifest = JsonNode.Parse(_deaManifest)!.AsObject();
        manifest["format_version"] = 4;

        var e = Assert.Throws<ModelContractException>(() => RwkvManifest.FromJson(manifest.ToJsonString(), "m.json"));

        Assert.That(e!.Message, Does.Contain("has format_version 4; this runtime reads 2 and 3"));
    }
}
