using Rwkv.Onnx.Export.Proto;

namespace Rwkv.Onnx.Export.Graph;

internal static partial class Ops
{
    /// <summary>
    /// Scan (opset 16) over axis 1 of every scan input, carrying <paramref name="carried"/> states.
    /// Returns the final states followed by the scan outputs, stacked along axis 1.
    /// </summary>
    public static Value[] Scan(Value[] carried, Value[] scanned, GraphProto body, int scanOutputs)
    {
        OnnxGraph g = carried[0].Graph;
        long[] inputAxes = Enumerable.Repeat(1L, scanned.Length).ToArray();
        long[] outputAxes = Enumerable.Repeat(1L, scanOutputs).ToArray();
        return g.Node("Scan", [.. carried, .. scanned], carried.Length + scanOutputs,
        [
            Attr.Graph("body", body),
            Attr.Int("num_scan_inputs", scanned.Length),
            Attr.Ints("scan_input_axes", inputAxes),
            Attr.Ints("scan_output_axes", outputAxes),
        ]);
    }
}
