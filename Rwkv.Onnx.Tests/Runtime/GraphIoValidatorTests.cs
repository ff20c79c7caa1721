using Google.Protobuf;
using Rwkv.Onnx.Exceptions;
using Rwkv.Onnx.Export.Proto;

namespace Rwkv.Onnx.Tests.Runtime;

/// <summary>
/// <see cref="RwkvModel.Load"/> checks each graph's inputs and outputs against the manifest and the contract by element
/// type as well as name and shape: a manifest edited to disagree with the graphs, or a graph edited to break the
/// contract, is refused naming the graph file, the tensor, the expected and the actual type.
/// </summary>
[TestFixture]
public sealed class GraphIoValidatorTests
{
    [Test]
    public void Load_ManifestStateDTypeEditedToFloat16_ThrowsNamingTensorExpectedAndActual()
    {
        const string DType = "float16";
        string copy = RuntimeTestModels.CopyModel(RuntimeTestModels.Tiny7);
        RwkvManifest manifest = RwkvManifest.Load(copy);
        RwkvStateTensorInfo first = manifest.State[0];
        WriteManifest(copy, manifest with { State = [first with { DType = DType }, .. manifest.State.Skip(1)] });

        var e = Assert.Throws<ModelContractException>(() => RwkvModel.Load(copy));

        string step = Path.Combine(copy, RwkvContract.StepGraphFile);
        Assert.That(e!.ModelPath, Is.EqualTo(step));
        Assert.That(e.Key, Is.EqualTo(first.Input));
        Assert.That(e.Message, Is.EqualTo(
            $"Graph '{step}' input '{first.Input}' is float32 [?, {string.Join(", ", first.Shape)}]; the manifest expects {DType} [batch, {string.Join(", ", first.Shape)}]."));
    }

    [TestCase(RwkvContract.StepGraphFile, "[batch]")]
    [TestCase(RwkvContract.PrefillGraphFile, "[batch, ?]")]
    public void Load_GraphTokensOfInt32_ThrowsNamingTheContract(string file, string shape)
    {
        // Gather takes int32 indices too, so ONNX Runtime loads the edited graph; only the contract check refuses it.
        string copy = RuntimeTestModels.CopyModel(RuntimeTestModels.Tiny7);
        string path = Path.Combine(copy, file);
        ModelProto model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        model.Graph.Input.Single(i => i.Name == RwkvContract.TokensInput).Type.TensorType.ElemType = (int)TensorProto.Types.DataType.Int32;
        File.WriteAllBytes(path, model.ToByteArray());

        var e = Assert.Throws<ModelContractException>(() => RwkvModel.Load(copy));

        Assert.That(e!.Key, Is.EqualTo(RwkvContract.TokensInput));
        Assert.That(e.Message, Does.StartWith($"Graph '{path}' input 'tokens' is int32 ").And.EndWith($"; the contract expects int64 {shape}."));
    }

    [Test]
    public void Load_Float16StateMatchingTheGraphs_IsRefusedAsUnsupported()
    {
        // No export keeps float16 state; make a step graph that does, for one slot, by casting at its input and output.
        // The step graph is checked first, so the prefill graph is left alone.
        string copy = RuntimeTestModels.CopyModel(RuntimeTestModels.Tiny7);
        RwkvManifest manifest = RwkvManifest.Load(copy);
        RwkvStateTensorInfo first = manifest.State[0];
        WriteManifest(copy, manifest with { State = [first with { DType = "float16" }, .. manifest.State.Skip(1)] });
        string step = Path.Combine(copy, RwkvContract.StepGraphFile);
        ModelProto model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(step));
        GraphProto graph = model.Graph;
        string past = first.Input + "/float32", present = first.Output + "/float32";
        foreach (NodeProto node in graph.Node)
        {
            Rename(node.Input, first.Input, past);
            Rename(node.Input, first.Output, present);
            Rename(node.Output, first.Output, present);
        }
        graph.Node.Insert(0, Cast(first.Input, past, TensorProto.Types.DataType.Float));
        graph.Node.Add(Cast(present, first.Output, TensorProto.Types.DataType.Float16));
        graph.Input.Single(v => v.Name == first.Input).Type.TensorType.ElemType = (int)TensorProto.Types.DataType.Float16;
        graph.Output.Single(v => v.Name == first.Output).Type.TensorType.ElemType = (int)TensorProto.Types.DataType.Float16;
        File.WriteAllBytes(step, model.ToByteArray());

        var e = Assert.Throws<ModelContractException>(() => RwkvModel.Load(copy));

        Assert.That(e!.Key, Is.EqualTo(first.Input));
        Assert.That(e.Message, Is.EqualTo($"Model '{copy}' keeps state '{first.Input}' as float16; this runtime reads only float32 state."));
    }

    private static void Rename(Google.Protobuf.Collections.RepeatedField<string> names, string from, string to)
    {
        for (int i = 0; i < names.Count; i++)
        {
            if (names[i] == from)
            {
                names[i] = to;
            }
        }
    }

    private static NodeProto Cast(string input, string output, TensorProto.Types.DataType to) => new()
    {
        Name = $"/test/Cast/{output}",
        OpType = "Cast",
        Input = { input },
        Output = { output },
        Attribute = { new AttributeProto { Name = "to", Type = AttributeProto.Types.AttributeType.Int, I = (long)to } },
    };

    private static void WriteManifest(string directory, RwkvManifest manifest) =>
        File.WriteAllText(Path.Combine(directory, RwkvContract.ManifestFile), manifest.ToJson());
}
