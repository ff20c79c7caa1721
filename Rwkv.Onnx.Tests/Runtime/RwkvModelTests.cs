using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Rwkv.Onnx.Exceptions;
using Rwkv.Onnx.Export.Proto;

namespace Rwkv.Onnx.Tests.Runtime;

public class RwkvModelTests
{
    [Test]
    public void Load_ExportedTinyModel_ExposesManifestAndVocab()
    {
        using var model = RwkvModel.Load(RuntimeTestModels.Tiny7);

        Assert.That(model.VocabSize, Is.EqualTo(256));
        Assert.That(model.Manifest.Architecture.Layers, Is.EqualTo(12));
        Assert.That(model.Manifest.State, Has.Count.EqualTo(36));
        Assert.That(model.ModelDirectory, Is.EqualTo(RuntimeTestModels.Tiny7));
    }

    [TestCase(RwkvExecutionProvider.Cuda, "CUDAExecutionProvider", "Microsoft.ML.OnnxRuntime.Gpu", "-p:OnnxRuntimeFlavor=Gpu")]
    [TestCase(RwkvExecutionProvider.DirectML, "DmlExecutionProvider", "Microsoft.ML.OnnxRuntime.DirectML", "-p:OnnxRuntimeFlavor=DirectML")]
    public void Load_ProviderMissingFromNativeRuntime_ThrowsNamingPackageAndFlavor(
        RwkvExecutionProvider provider, string ortName, string package, string flavor)
    {
        string[] available = OrtEnv.Instance().GetAvailableProviders();
        Assume.That(available, Does.Not.Contain(ortName), "This test needs a native ONNX Runtime without the provider.");

        var e = Assert.Throws<ExecutionProviderUnavailableException>(
            () => RwkvModel.Load(RuntimeTestModels.Tiny7, new RwkvModelOptions { ExecutionProvider = provider }));

        Assert.That(e.Provider, Is.EqualTo(provider));
        Assert.That(e.AvailableProviders, Is.EquivalentTo(available));
        Assert.That(e.Message, Does.Contain(ortName).And.Contain(package).And.Contain(flavor).And.Contain("CPUExecutionProvider"));
    }

    [Test]
    public void Load_MissingDirectory_ThrowsNamingIt()
    {
        string missing = Path.Combine(RuntimeTestModels.CreateTemporaryDirectory(), "no-such-model");

        var e = Assert.Throws<ModelContractException>(() => RwkvModel.Load(missing));

        Assert.That(e.ModelPath, Is.EqualTo(missing));
        Assert.That(e.Message, Does.Contain(missing));
    }

    [Test]
    public void Load_DirectoryWithoutManifest_ThrowsNamingManifestFile()
    {
        string empty = RuntimeTestModels.CreateTemporaryDirectory();

        var e = Assert.Throws<ModelContractException>(() => RwkvModel.Load(empty));

        Assert.That(e.Message, Does.Contain(RwkvContract.ManifestFile));
    }

    [TestCase(RwkvContract.StepGraphFile)]
    [TestCase(RwkvContract.PrefillGraphFile)]
    [TestCase(RwkvContract.WeightsFile)]
    [TestCase(RwkvContract.StateCopyGraphFile)]
    public void Load_FileNamedByManifestMissing_ThrowsNamingFile(string file)
    {
        string copy = RuntimeTestModels.CopyModel(RuntimeTestModels.Tiny7);
        File.Delete(Path.Combine(copy, file));

        var e = Assert.Throws<ModelContractException>(() => RwkvModel.Load(copy));

        Assert.That(e.Key, Is.EqualTo(file));
        Assert.That(e.ModelPath, Is.EqualTo(Path.Combine(copy, file)));
        Assert.That(e.Message, Does.Contain($"'{file}'"));
    }

    [TestCase(RwkvContract.StepGraphFile)]
    [TestCase(RwkvContract.PrefillGraphFile)]
    public void Load_CorruptGraph_ThrowsWithPath(string file)
    {
        string copy = RuntimeTestModels.CopyModel(RuntimeTestModels.Tiny7);
        string graph = Path.Combine(copy, file);
        File.WriteAllBytes(graph, [1, 2, 3, 4, 5, 6, 7, 8]);

        var e = Assert.Throws<ModelContractException>(() => RwkvModel.Load(copy));

        Assert.That(e.ModelPath, Is.EqualTo(graph));
        Assert.That(e.Message, Does.Contain(graph).And.Contain("could not load"));
        Assert.That(e.InnerException, Is.TypeOf<OnnxRuntimeException>());
    }

    [Test]
    public void Load_GraphOnnxRuntimeRejects_WrapsItsErrorWithPath()
    {
        string copy = RuntimeTestModels.CopyModel(RuntimeTestModels.Tiny7);
        string prefill = Path.Combine(copy, RwkvContract.PrefillGraphFile);
        ModelProto model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(prefill));
        model.Graph.Node[0].OpType = "NoSuchOperator";
        File.WriteAllBytes(prefill, model.ToByteArray());

        var e = Assert.Throws<ModelContractException>(() => RwkvModel.Load(copy));

        Assert.That(e.ModelPath, Is.EqualTo(prefill));
        Assert.That(e.Message, Does.Contain(prefill).And.Contain("NoSuchOperator"));
        Assert.That(e.InnerException, Is.TypeOf<OnnxRuntimeException>());
    }

    [TestCase(999_999_999_999L, null, "places weight")]
    [TestCase(null, 4L, "but 4 bytes")]
    [TestCase(-8L, null, "expected a non-negative integer")]
    public void Load_ManifestWeightOutsideTheWeightsFile_ThrowsNamingTheWeight(long? offset, long? length, string expected)
    {
        string copy = RuntimeTestModels.CopyModel(RuntimeTestModels.Tiny7);
        RwkvManifest manifest = RwkvManifest.Load(copy);
        IReadOnlyList<RwkvTensorInfo> tensors = manifest.Weights.Tensors!; // the exporter lists them
        int index = tensors.ToList().FindIndex(t => t.Name.Contains("att.key", StringComparison.Ordinal));
        RwkvTensorInfo tensor = tensors[index];
        RwkvTensorInfo damaged = tensor with { Offset = offset ?? tensor.Offset, Length = length ?? tensor.Length };
        WriteManifest(copy, manifest with { Weights = manifest.Weights with { Tensors = [.. tensors.Select((t, i) => i == index ? damaged : t)] } });

        var e = Assert.Throws<ModelContractException>(() => RwkvModel.Load(copy));

        Assert.That(e.Key, Is.EqualTo(tensor.Name));
        Assert.That(e.ModelPath, Is.EqualTo(Path.Combine(copy, RwkvContract.ManifestFile)));
        Assert.That(e.Message, Does.Contain(expected).And.Contain($"'{tensor.Name}'").And.Contain(RwkvContract.ManifestFile));
    }

    [Test]
    public void Load_ManifestWeightWithUnknownDType_ThrowsNamingTheWeightAndDType()
    {
        string copy = RuntimeTestModels.CopyModel(RuntimeTestModels.Tiny7);
        RwkvManifest manifest = RwkvManifest.Load(copy);
        IReadOnlyList<RwkvTensorInfo> tensors = manifest.Weights.Tensors!; // the exporter lists them
        WriteManifest(copy, manifest with { Weights = manifest.Weights with { Tensors = [tensors[0] with { DType = "complex64" }, .. tensors.Skip(1)] } });

        var e = Assert.Throws<ModelContractException>(() => RwkvModel.Load(copy));

        Assert.That(e.Key, Is.EqualTo(tensors[0].Name));
        Assert.That(e.Message, Does.Contain("'complex64'").And.Contain("expected float32"));
    }

    [Test]
    public void Load_ManifestWithoutStateCopyGraph_IsRefusedNamingIt()
    {
        string copy = RuntimeTestModels.CopyModel(RuntimeTestModels.Tiny7);
        WriteManifest(copy, RwkvManifest.Load(copy) with { StateCopyGraph = null! });

        var e = Assert.Throws<ModelContractException>(() => RwkvModel.Load(copy, new RwkvModelOptions { StateLocation = RwkvStateLocation.Host }));

        Assert.That(e.Key, Is.EqualTo("state_copy_graph"));
        Assert.That(e.Message, Does.Contain(RwkvContract.ManifestFile));
    }

    [Test]
    public void Load_StateOnDevice_ManifestCopyGraphOutOfStateOrder_IsRefused()
    {
        string copy = RuntimeTestModels.CopyModel(RuntimeTestModels.Tiny7);
        // The copier binds by state order; a list that swaps two outputs would copy one tensor into another's place.
        RwkvManifest manifest = RwkvManifest.Load(copy);
        RwkvGraphInfo graph = manifest.StateCopyGraph!; // the exporter writes it
        WriteManifest(copy, manifest with { StateCopyGraph = graph with { Outputs = [graph.Outputs[1], graph.Outputs[0], .. graph.Outputs.Skip(2)] } });

        var e = Assert.Throws<ModelContractException>(() => RwkvModel.Load(copy, new RwkvModelOptions { StateLocation = RwkvStateLocation.Device }));

        Assert.That(e.Key, Is.EqualTo("state_copy_graph"));
        Assert.That(e.Message, Does.Contain("state order"));
    }

    [Test]
    public void Load_ManifestListingTheWeights_SharesEveryOneOnTheCpu()
    {
        using var model = RwkvModel.Load(RuntimeTestModels.Tiny7);

        Assert.That(model.SharedWeightCount, Is.EqualTo(model.Manifest.Weights.Tensors!.Count).And.GreaterThan(0));
    }

    [Test]
    public void Load_ManifestNamesInputTheGraphLacks_ThrowsNamingIt()
    {
        string copy = RuntimeTestModels.CopyModel(RuntimeTestModels.Tiny7);
        RwkvManifest manifest = RwkvManifest.Load(copy);
        WriteManifest(copy, manifest with { StepGraph = manifest.StepGraph with { Inputs = [.. manifest.StepGraph.Inputs, "past_bogus.0"] } });

        var e = Assert.Throws<ModelContractException>(() => RwkvModel.Load(copy));

        Assert.That(e.Key, Is.EqualTo("past_bogus.0"));
        Assert.That(e.Message, Does.Contain("'past_bogus.0'").And.Contain(RwkvContract.StepGraphFile));
    }

    [Test]
    public void Load_ManifestStateShapeDiffersFromGraph_ThrowsNamingState()
    {
        string copy = RuntimeTestModels.CopyModel(RuntimeTestModels.Tiny7);
        RwkvManifest manifest = RwkvManifest.Load(copy);
        RwkvStateTensorInfo first = manifest.State[0];
        WriteManifest(copy, manifest with { State = [first with { Shape = [.. first.Shape.Select(d => d + 1)] }, .. manifest.State.Skip(1)] });

        var e = Assert.Throws<ModelContractException>(() => RwkvModel.Load(copy));

        Assert.That(e.Key, Is.EqualTo(first.Input));
        Assert.That(e.Message, Does.Contain($"'{first.Input}'"));
    }

    [Test]
    public void Dispose_Twice_IsSafe_AndCreateAfterDisposeThrows()
    {
        var model = RwkvModel.Load(RuntimeTestModels.Tiny7);
        model.Dispose();

        Assert.That(model.Dispose, Throws.Nothing);
        Assert.That(() => model.CreateState(), Throws.TypeOf<ObjectDisposedException>());
        Assert.That(model.CreateRunner, Throws.TypeOf<ObjectDisposedException>());
    }

    [Test]
    public void CreateState_BatchSizeZero_Throws()
    {
        using var model = RwkvModel.Load(RuntimeTestModels.Tiny7);

        Assert.That(() => model.CreateState(0), Throws.TypeOf<ArgumentOutOfRangeException>());
    }

    private static void WriteManifest(string directory, RwkvManifest manifest) =>
        File.WriteAllText(Path.Combine(directory, RwkvContract.ManifestFile), manifest.ToJson());
}
