namespace Rwkv.Onnx.Export.RandomCheckpoints;

/// <summary>A tensor in canonical layout: BlinkDL name, PyTorch shape (outermost first), row-major values.</summary>
internal sealed record CanonicalTensor(string Name, long[] Shape, float[] Data);
