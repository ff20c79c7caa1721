using Google.Protobuf;
using Rwkv.Onnx.Export.Proto;

namespace Rwkv.Onnx.Export.Graph;

/// <summary>Validates a finished graph against its opset, wraps it in a ModelProto and writes it.</summary>
internal static class OnnxModelWriter
{
    /// <summary>The opset in which each op we emit took the form we emit.</summary>
    private static readonly Dictionary<string, int> s_minimumOpset = new(StringComparer.Ordinal)
    {
        ["Add"] = 14,
        ["Sub"] = 14,
        ["Mul"] = 14,
        ["Div"] = 14,
        ["Neg"] = 13,
        ["Abs"] = 13,
        ["Round"] = 11,
        ["Exp"] = 13,
        ["Sigmoid"] = 13,
        ["Tanh"] = 13,
        ["Relu"] = 14,
        ["Max"] = 13,
        ["Cast"] = 13,
        ["MatMul"] = 13,
        ["Gather"] = 13,
        ["LayerNormalization"] = 17,
        ["ReduceL2"] = 13,
        ["ReduceSum"] = 13,
        ["Reshape"] = 14,
        ["Shape"] = 15,
        ["Transpose"] = 13,
        ["Concat"] = 13,
        ["Slice"] = 13,
        ["Unsqueeze"] = 13,
        ["Squeeze"] = 13,
        ["Split"] = 13,
        ["Scan"] = 16,
        ["Identity"] = 16,
        ["Min"] = 13,
        ["Log"] = 13,
        ["CumSum"] = 14,
        ["Trilu"] = 14,
        ["Pad"] = 13,
        ["Expand"] = 13,
        ["EyeLike"] = 9,
        ["ConstantOfShape"] = 9,
        ["ReduceMax"] = 13,
        ["Range"] = 11,
        ["ScatterND"] = 13,
        ["LessOrEqual"] = 16,
        ["Where"] = 16,
        ["Softmax"] = 13,
    };

    /// <summary>Ops of other domains we emit, keyed <c>{domain}.{op}</c>; <see cref="OnnxRuntimeRequirements"/> knows their domain versions.</summary>
    private static readonly HashSet<string> s_domainOps = new(StringComparer.Ordinal) { $"{Ops.MicrosoftDomain}.MatMulNBits" };

    /// <summary>The newest IR version that runtimes of an opset's era accept (onnx 1.12/1.13: IR 8).</summary>
    public static int IrVersionFor(int opset) => opset switch
    {
        <= 18 => 8,
        <= 20 => 9,
        _ => 10,
    };

    public static void Write(OnnxGraph graph, string path, IReadOnlyDictionary<string, string> metadata)
    {
        Validate(graph);
        var model = new ModelProto
        {
            IrVersion = IrVersionFor(graph.Opset),
            ProducerName = "RwkvOnnx",
            ProducerVersion = typeof(OnnxModelWriter).Assembly.GetName().Version?.ToString() ?? "0",
            Graph = graph.Proto,
        };
        // Other domains are imported only when used, so float exports stay plain ONNX; the manifest lists the same imports.
        foreach (var (domain, version) in OnnxRuntimeRequirements.OpsetImports(graph))
        {
            model.OpsetImport.Add(new OperatorSetIdProto { Domain = domain, Version = version });
        }
        foreach ((string key, string value) in metadata)
        {
            model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        }
        using var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
        model.WriteTo(stream);
    }

    private static void Validate(OnnxGraph graph)
    {
        foreach ((string op, string node) in graph.OpTypes)
        {
            if (s_domainOps.Contains(op))
            {
                continue;
            }
            if (!s_minimumOpset.TryGetValue(op, out int minimum))
            {
                throw new InvalidOperationException($"Node '{node}' uses op '{op}', which has no opset entry in {nameof(OnnxModelWriter)}.");
            }
            if (graph.Opset < minimum)
            {
                throw new InvalidOperationException($"Node '{node}' uses op '{op}', which needs opset {minimum}; the export targets opset {graph.Opset}.");
            }
        }
    }
}
