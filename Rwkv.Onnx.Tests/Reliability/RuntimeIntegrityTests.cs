using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Rwkv.Onnx.Exceptions;

namespace Rwkv.Onnx.Tests.Reliability;

/// <summary>A model directory with a missing, truncated, corrupted or foreign file is refused at load, naming the file.</summary>
[TestFixture]
public sealed class RuntimeIntegrityTests
{
    private string _model = "";

    [SetUp]
    public void CopyModel() => _model = RuntimeReliabilityModels.CopyModel(RuntimeReliabilityModels.Tiny7);

    [TestCase(RwkvContract.WeightsFile)]
    [TestCase(RwkvContract.StepGraphFile)]
    [TestCase(RwkvContract.PrefillGraphFile)]
    public void Load_MissingFile_NamesFileAndDirectory(string file)
    {
        File.Delete(Path.Combine(_model, file));

        var error = Assert.Throws<ModelContractException>(() => RwkvModel.Load(_model));
        Assert.That(error.Key, Is.EqualTo(file));
        Assert.That(error.Message, Does.Contain($"'{file}'").And.Contain(_model));
    }

    [TestCase(-4)]
    [TestCase(-1)]
    [TestCase(+1)]
    public void Load_WeightsOfAnotherSize_NamesExpectedAndActualBytes(int change)
    {
        string weights = Path.Combine(_model, RwkvContract.WeightsFile);
        long expected = new FileInfo(weights).Length;
        using (FileStream stream = File.Open(weights, FileMode.Open))
        {
            stream.SetLength(expected + change);
        }

        var error = Assert.Throws<ModelContractException>(() => RwkvModel.Load(_model));
        Assert.That(error.Key, Is.EqualTo(RwkvContract.WeightsFile));
        Assert.That(error.ModelPath, Is.EqualTo(weights));
        Assert.That(error.Message, Does.Contain($"has {expected + change} bytes").And.Contain($"expects {expected}"));
    }

    [Test]
    public void Load_CorruptedWeightsOfTheSameSize_RefusedOnlyWhenChecksumsAreVerified()
    {
        string weights = Path.Combine(_model, RwkvContract.WeightsFile);
        string expected = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(weights)));
        using (RwkvModel intact = RwkvModel.Load(_model, new RwkvModelOptions { VerifyChecksums = true }))
        {
            Assert.That(intact.Manifest.Weights.Sha256, Is.EqualTo(expected));
        }
        byte[] bytes = File.ReadAllBytes(weights);
        bytes[bytes.Length / 2] ^= 0x40;
        File.WriteAllBytes(weights, bytes);
        string actual = Convert.ToHexStringLower(SHA256.HashData(bytes));

        // The default skips the hash (seconds for a large model); the size check cannot see a flipped bit.
        using (RwkvModel unverified = RwkvModel.Load(_model))
        {
            Assert.That(unverified.VocabSize, Is.EqualTo(256));
        }
        var error = Assert.Throws<ModelContractException>(() => RwkvModel.Load(_model, new RwkvModelOptions { VerifyChecksums = true }));
        Assert.That(error.Key, Is.EqualTo(RwkvContract.WeightsFile));
        Assert.That(error.Message, Does.Contain(expected).And.Contain(actual).And.Contain(RwkvContract.WeightsFile));
    }

    [TestCase(RwkvContract.StepGraphFile)]
    [TestCase(RwkvContract.PrefillGraphFile)]
    [TestCase(RwkvContract.StateCopyGraphFile)]
    public void Load_GraphFromAnotherExport_IsRefused(string graph)
    {
        // The fp16 export has the same architecture and I/O names, so only the embedded manifest tells them apart.
        File.Copy(Path.Combine(RuntimeReliabilityModels.Tiny7Fp16, graph), Path.Combine(_model, graph), overwrite: true);

        // The state-copy graph is loaded only to keep state in device memory.
        var error = Assert.Throws<ModelContractException>(() => RwkvModel.Load(_model, new RwkvModelOptions { StateLocation = RwkvStateLocation.Device }));
        Assert.That(error.Key, Is.EqualTo(RwkvContract.ManifestMetadataKey));
        Assert.That(error.Message, Does.Contain(graph).And.Contain("fp16").And.Contain("another export"));
    }

    [TestCase(0)]
    [TestCase(RwkvContract.FormatVersion + 1)]
    public void Load_UnsupportedFormatVersion_IsRefused(int version)
    {
        string path = Path.Combine(_model, RwkvContract.ManifestFile);
        JsonNode manifest = JsonNode.Parse(File.ReadAllText(path))!; // the exporter wrote valid JSON
        manifest["format_version"] = version;
        File.WriteAllText(path, manifest.ToJsonString());

        Assert.That(() => RwkvModel.Load(_model),
            Throws.TypeOf<ModelContractException>().With.Message.Contain("format_version").And.Message.Contain($"{version}"));
    }

    [Test]
    public void Load_FormatVersion1_AsksToReExportTheDirectory()
    {
        // A version-1 manifest has no session_config; the version is what the reader must hear about, not the field.
        string path = Path.Combine(_model, RwkvContract.ManifestFile);
        JsonObject manifest = JsonNode.Parse(File.ReadAllText(path))!.AsObject(); // the exporter wrote valid JSON
        manifest["format_version"] = 1;
        manifest.Remove("session_config");
        File.WriteAllText(path, manifest.ToJsonString());

        var error = Assert.Throws<ModelContractException>(() => RwkvModel.Load(_model));
        Assert.That(error.Key, Is.EqualTo("format_version"));
        Assert.That(error.Message, Does.Contain(_model).And.Contain("format_version 1").And.Contain("reads 2")
            .And.Contain("Re-export the model directory with this version of rwkv-onnx"));
    }

    [Test]
    public void Cli_VerifyChecksums_RefusesCorruptedWeights_WithExitCode1()
    {
        string weights = Path.Combine(_model, RwkvContract.WeightsFile);
        byte[] bytes = File.ReadAllBytes(weights);
        bytes[7] ^= 0x01;
        File.WriteAllBytes(weights, bytes);

        (int plain, _) = Run("generate", _model, "--prompt", "Hi", "--max-tokens", "1");
        (int verified, string stderr) = Run("generate", _model, "--prompt", "Hi", "--max-tokens", "1", "--verify-checksums");

        Assert.That(plain, Is.Zero);
        Assert.That(verified, Is.EqualTo(1));
        Assert.That(stderr, Does.Contain("SHA-256").And.Contain(RwkvContract.WeightsFile));
    }

    private static (int ExitCode, string Stderr) Run(params string[] args)
    {
        var stderr = new StringWriter();
        int exitCode = Rwkv.Onnx.Cli.Cli.Run(args, new StringWriter(), stderr);
        return (exitCode, stderr.ToString());
    }
}
