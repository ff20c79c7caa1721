using Rwkv.Onnx.Export.Proto;

namespace Rwkv.Onnx.Export.Graph;

/// <summary>
/// What a built graph needs from ONNX Runtime, read from the graph itself (its opset and the nodes it holds, Scan bodies
/// included) so that the manifest cannot drift from what is written: the operator sets it imports, the operators of
/// other domains it uses, and the oldest ONNX Runtime release that runs it.
/// </summary>
internal static class OnnxRuntimeRequirements
{
    // The first ONNX Runtime release that loads each default-domain opset we export. Opset 17: measured with
    // onnxruntime-node (1.11.0 refuses the graphs' opset, 1.12.1 runs fp32 and fp16 exports). Opsets 18 to 21 (API only,
    // not the CLI's default): ONNX Runtime's release notes (1.14 ONNX 1.13, 1.15 ONNX 1.14, 1.17 ONNX 1.15, 1.18 ONNX
    // 1.16 with IR 10), not measured. OnnxModelWriter.IrVersionFor stays within each release's IR version.
    private static readonly Dictionary<int, Version> s_opsetRelease = new()
    {
        [17] = new Version(1, 12, 0),
        [18] = new Version(1, 14, 0),
        [19] = new Version(1, 15, 0),
        [20] = new Version(1, 17, 0),
        [21] = new Version(1, 18, 0),
    };

    /// <summary>The operator sets to import: the default domain at the graph's opset, and every other domain its nodes use.</summary>
    public static IReadOnlyList<(string Domain, int Version)> OpsetImports(OnnxGraph graph)
    {
        var imports = new List<(string, int)> { ("", graph.Opset) };
        imports.AddRange(CustomNodes(graph.Proto).GroupBy(n => n.Domain, StringComparer.Ordinal)
            .Select(g => (g.Key, g.Max(n => DomainVersion(n)))));
        return imports;
    }

    /// <summary>The manifest's <c>opset_imports</c> and <c>custom_ops</c> of a graph.</summary>
    public static (List<RwkvOpsetImportInfo> Imports, List<RwkvCustomOpInfo> CustomOps) Describe(OnnxGraph graph)
    {
        List<RwkvOpsetImportInfo> imports = [.. OpsetImports(graph).Select(i => new RwkvOpsetImportInfo
        {
            Domain = i.Domain.Length == 0 ? RwkvOpsetImportInfo.DefaultDomain : i.Domain,
            Version = i.Version,
        })];
        List<RwkvCustomOpInfo> ops = [.. CustomNodes(graph.Proto)
            .Select(n => (n.Domain, n.OpType, Release: MinimumRelease(n)))
            .GroupBy(o => (o.Domain, o.OpType))
            .Select(g => new RwkvCustomOpInfo { Domain = g.Key.Domain, OpType = g.Key.OpType, MinOnnxRuntimeVersion = Format(g.Max(o => o.Release)!) })
            .OrderBy(o => o.Domain, StringComparer.Ordinal).ThenBy(o => o.OpType, StringComparer.Ordinal)];
        return (imports, ops);
    }

    /// <summary>The oldest ONNX Runtime release that runs every one of <paramref name="graphs"/>, as <c>major.minor.patch</c>.</summary>
    /// <exception cref="InvalidOperationException">A graph's opset or one of its custom operators has no known release.</exception>
    public static string MinimumRelease(IEnumerable<OnnxGraph> graphs)
    {
        Version newest = new(0, 0, 0);
        foreach (OnnxGraph graph in graphs)
        {
            if (!s_opsetRelease.TryGetValue(graph.Opset, out Version? forOpset))
            {
                throw new InvalidOperationException($"Opset {graph.Opset} has no ONNX Runtime release in {nameof(OnnxRuntimeRequirements)}.");
            }
            newest = Max(newest, forOpset);
            foreach (NodeProto node in CustomNodes(graph.Proto))
            {
                newest = Max(newest, MinimumRelease(node));
            }
        }
        return Format(newest);
    }

    // Each custom operator we emit, as the graph uses it. MatMulNBits entered com.microsoft in ONNX Runtime 1.17
    // (microsoft/onnxruntime#17890), but 1.17.0's CPU kernel crashes on our int4 graphs (SIGFPE or SIGSEGV in
    // onnxruntime-node 1.17.0, with either accuracy level and block size); 1.18.0 runs them. Its CPU kernel refused any
    // bits but 4 ("Only 4b quantization is supported", still in 1.21.0) until 1.22 added 8-bit kernels
    // (microsoft/onnxruntime#24384, #24491; onnxruntime-node 1.22.0 runs our int8 graphs). A node this table does not
    // know fails the export: a new operator must say which release runs it.
    private static Version MinimumRelease(NodeProto node) => (node.Domain, node.OpType) switch
    {
        (Ops.MicrosoftDomain, "MatMulNBits") => Bits(node) switch
        {
            4 => new Version(1, 18, 0),
            8 => new Version(1, 22, 0),
            long bits => throw new InvalidOperationException($"Node '{node.Name}' is a MatMulNBits with {bits} bits, which has no ONNX Runtime release in {nameof(OnnxRuntimeRequirements)}."),
        },
        _ => throw new InvalidOperationException($"Node '{node.Name}' uses '{node.Domain}.{node.OpType}', which has no ONNX Runtime release in {nameof(OnnxRuntimeRequirements)}."),
    };

    private static int DomainVersion(NodeProto node) => (node.Domain, node.OpType) switch
    {
        (Ops.MicrosoftDomain, "MatMulNBits") => 1,
        _ => throw new InvalidOperationException($"Node '{node.Name}' uses '{node.Domain}.{node.OpType}', which has no domain version in {nameof(OnnxRuntimeRequirements)}."),
    };

    private static long Bits(NodeProto node) =>
        node.Attribute.FirstOrDefault(a => a.Name == "bits")?.I
        ?? throw new InvalidOperationException($"Node '{node.Name}' is a MatMulNBits without a 'bits' attribute.");

    // Every node outside the default domain, in the graph and in the graphs of its nodes' attributes (Scan bodies).
    private static IEnumerable<NodeProto> CustomNodes(GraphProto graph)
    {
        foreach (NodeProto node in graph.Node)
        {
            if (node.Domain.Length > 0 && node.Domain != RwkvOpsetImportInfo.DefaultDomain)
            {
                yield return node;
            }
            foreach (AttributeProto attribute in node.Attribute.Where(a => a.G is not null))
            {
                foreach (NodeProto inner in CustomNodes(attribute.G))
                {
                    yield return inner;
                }
            }
        }
    }

    private static Version Max(Version a, Version b) => a >= b ? a : b;

    private static string Format(Version v) => $"{v.Major}.{v.Minor}.{v.Build}";
}
