namespace Rwkv.Onnx.Export;

/// <summary>Progress of an export: the stage (<c>weights</c>, <c>step graph</c>, <c>prefill graph</c>) and items done of total.</summary>
/// <param name="Stage">What is being done.</param>
/// <param name="Done">Items finished in this stage.</param>
/// <param name="Total">Items in this stage.</param>
public readonly record struct ExportProgress(string Stage, int Done, int Total);
