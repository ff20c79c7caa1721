namespace Rwkv.Onnx.Export;

/// <summary>What <see cref="RwkvExporter.Inspect"/> detects in a checkpoint, without exporting it.</summary>
public sealed record RwkvCheckpointInfo
{
    /// <summary>The checkpoint file.</summary>
    public required string Path { get; init; }

    /// <summary>The file format, e.g. <c>rwkv.cpp</c>.</summary>
    public required string Format { get; init; }

    /// <summary>Storage type of most parameters (<c>fp32</c>, <c>fp16</c>, <c>bf16</c>).</summary>
    public required string DType { get; init; }

    /// <summary>The detected architecture.</summary>
    public required RwkvArchitectureInfo Architecture { get; init; }

    /// <summary>The recurrent state tensors an export of it carries per sequence.</summary>
    public required IReadOnlyList<RwkvStateTensorInfo> State { get; init; }
}
