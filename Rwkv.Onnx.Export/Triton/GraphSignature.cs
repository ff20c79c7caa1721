using Google.Protobuf;
using Rwkv.Onnx.Exceptions;
using Rwkv.Onnx.Export.Proto;

namespace Rwkv.Onnx.Export.Triton;

/// <summary>The inputs and outputs of an ONNX graph read from its file (the weights stay in their external-data file, unread).</summary>
/// <param name="Inputs">Graph inputs in order, initializers excluded.</param>
/// <param name="Outputs">Graph outputs in order.</param>
/// <param name="ExternalDataFiles">The external-data files the initializers name (<c>location</c>, relative to the graph's file), each once.</param>
internal sealed record GraphSignature(IReadOnlyList<GraphTensor> Inputs, IReadOnlyList<GraphTensor> Outputs, IReadOnlyList<string> ExternalDataFiles)
{
    /// <summary>Reads the signature of the graph in <paramref name="path"/>.</summary>
    /// <exception cref="ModelContractException">The file is not an ONNX model, or a tensor has no tensor type.</exception>
    public static GraphSignature Read(string path)
    {
        ModelProto model;
        try
        {
            model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new ModelContractException(path, Path.GetFileName(path), $"Graph '{path}' is not a valid ONNX model: {e.Message}", e);
        }
        var initializers = new HashSet<string>(model.Graph.Initializer.Select(i => i.Name), StringComparer.Ordinal);
        return new GraphSignature(
            [.. model.Graph.Input.Where(i => !initializers.Contains(i.Name)).Select(i => Tensor(path, i))],
            [.. model.Graph.Output.Select(o => Tensor(path, o))],
            [.. model.Graph.Initializer
                .Where(i => i.DataLocation == TensorProto.Types.DataLocation.External)
                .SelectMany(i => i.ExternalData.Where(e => e.Key == "location").Select(e => e.Value))
                .Distinct(StringComparer.Ordinal)]);
    }

    /// <summary>The input named <paramref name="name"/>, or null.</summary>
    public GraphTensor? Input(string name) => Inputs.FirstOrDefault(i => i.Name == name);

    /// <summary>The output named <paramref name="name"/>, or null.</summary>
    public GraphTensor? Output(string name) => Outputs.FirstOrDefault(o => o.Name == name);

    private static GraphTensor Tensor(string path, ValueInfoProto value)
    {
        if (value.Type?.TensorType is not { } tensor)
        {
            throw new ModelContractException(path, value.Name, $"Graph '{path}' declares '{value.Name}' without a tensor type; expected a tensor.");
        }
        IReadOnlyList<long> dims = tensor.Shape is { } shape
            ? [.. shape.Dim.Select(d => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue ? d.DimValue : -1L)]
            : [];
        return new GraphTensor(value.Name, tensor.ElemType, dims);
    }
}
