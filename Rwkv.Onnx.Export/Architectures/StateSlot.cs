namespace Rwkv.Onnx.Export.Architectures;

/// <summary>One recurrent state tensor that every layer carries: its name, per-sequence shape and initial value.</summary>
internal sealed record StateSlot(string Name, int[] Shape, float Initial = 0f);
