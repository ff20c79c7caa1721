using Google.Protobuf;
using Rwkv.Onnx.Export.Proto;

namespace Rwkv.Onnx.Export;

/// <summary>
/// What one token costs in a model this exporter wrote, read from the initializers and nodes of its step graph (its
/// weights are external, so the file is small); benchmarks divide measured speeds by it:
/// <list type="bullet">
/// <item><see cref="StepWeightBytes"/>: bytes of every initializer one decode step reads (matrices, the quantization
/// scales of <c>MatMulNBits</c>, vectors), the LM head included and the embedding table (the input of a Gather, of
/// which one row per token is read) excluded.</item>
/// <item><see cref="PrefillFlopsPerToken"/>: 2 · (matrix parameters except the embedding and the LM head) plus the WKV
/// recurrence, per prompt token; the head is counted once per prompt (2 · V · C), as prefill asks for the last
/// position's logits only. A quantized matrix counts its K · N weights, not its packed bytes.</item>
/// </list>
/// Recurrence FLOPs per token and layer: RWKV-7 9·H·N² (decay, S·a, rank-1 update, v·kᵀ, S·r on the H×N×N state);
/// RWKV-5/6 6·H·N² (decay, k·vᵀ, bonus, r·S); RWKV-4 20·C (the aa/bb/pp log-sum-exp form).
/// </summary>
/// <param name="StepWeightBytes">Bytes of weights one decode step reads (see above).</param>
/// <param name="BodyMatrixParameters">Parameters of the matrices other than the embedding and the LM head.</param>
/// <param name="HeadParameters">Parameters of the LM head, V · C.</param>
/// <param name="RecurrenceFlopsPerToken">FLOPs of the WKV recurrence per token, all layers.</param>
public sealed record RwkvModelCost(long StepWeightBytes, long BodyMatrixParameters, long HeadParameters, long RecurrenceFlopsPerToken)
{
    /// <summary>FLOPs per prompt token of a prefill, the LM head excluded: 2 · <see cref="BodyMatrixParameters"/> plus the recurrence.</summary>
    public long PrefillFlopsPerToken => 2 * BodyMatrixParameters + RecurrenceFlopsPerToken;

    /// <summary>FLOPs of a prefill of <paramref name="tokens"/> tokens for each of <paramref name="batch"/> sequences.</summary>
    /// <param name="batch">Sequences.</param>
    /// <param name="tokens">Prompt tokens per sequence.</param>
    /// <returns>The FLOPs, the LM head counted once per sequence.</returns>
    public double PrefillFlops(int batch, int tokens) => batch * ((double)tokens * PrefillFlopsPerToken + 2.0 * HeadParameters);

    /// <summary>Reads the cost of the model in <paramref name="modelDirectory"/> from its step graph.</summary>
    /// <param name="modelDirectory">An exported model directory.</param>
    /// <param name="manifest">Its manifest (<see cref="RwkvManifest.Load"/>).</param>
    /// <returns>The cost.</returns>
    /// <exception cref="IOException">The step graph cannot be read.</exception>
    /// <exception cref="InvalidDataException">The step graph is not a valid ONNX model, or has an initializer of an element type this does not count.</exception>
    public static RwkvModelCost Read(string modelDirectory, RwkvManifest manifest)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        string path = Path.Combine(modelDirectory, manifest.StepGraph.File);
        ModelProto model;
        try
        {
            model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new InvalidDataException($"Graph '{path}' is not a valid ONNX model: {e.Message}", e);
        }
        var gathered = new HashSet<string>(
            model.Graph.Node.Where(n => n.OpType == "Gather").Select(n => n.Input[0]), StringComparer.Ordinal);
        // MatMulNBits inputs are packed codes and scales; its K and N attributes give the matrix it stands for.
        var quantized = new Dictionary<string, long>(StringComparer.Ordinal);
        var packed = new HashSet<string>(StringComparer.Ordinal);
        foreach (NodeProto node in model.Graph.Node.Where(n => n.OpType == "MatMulNBits"))
        {
            long k = node.Attribute.Single(a => a.Name == "K").I, n = node.Attribute.Single(a => a.Name == "N").I;
            quantized[node.Input[1]] = k * n;
            packed.UnionWith(node.Input.Skip(1));
        }
        long bytes = 0, body = 0, head = 0;
        foreach (TensorProto initializer in model.Graph.Initializer)
        {
            if (gathered.Contains(initializer.Name))
            {
                continue;
            }
            long elements = initializer.Dims.Aggregate(1L, (p, d) => p * d);
            bytes += elements * ElementSize(initializer.DataType, path, initializer.Name);
            long parameters = quantized.TryGetValue(initializer.Name, out long weights) ? weights
                : initializer.Dims.Count < 2 || packed.Contains(initializer.Name) ? 0 : elements;
            if (initializer.Name.StartsWith("head.", StringComparison.Ordinal))
            {
                head += parameters;
            }
            else
            {
                body += parameters;
            }
        }
        RwkvArchitectureInfo a = manifest.Architecture;
        long perLayer = a.Version switch
        {
            "4" => 20L * a.Embedding,
            "7" => 9L * a.Heads * a.HeadSize * a.HeadSize,
            _ => 6L * a.Heads * a.HeadSize * a.HeadSize,
        };
        return new RwkvModelCost(bytes, body, head, perLayer * a.Layers);
    }

    private static int ElementSize(int dataType, string path, string name) => dataType switch
    {
        1 or 6 => 4,         // FLOAT, INT32
        7 or 11 => 8,        // INT64, DOUBLE
        10 or 16 => 2,       // FLOAT16, BFLOAT16
        2 or 3 or 9 => 1,    // UINT8, INT8, BOOL
        _ => throw new InvalidDataException($"Initializer '{name}' of '{path}' has element type {dataType}; bench counts float, integer and boolean initializers."),
    };
}
