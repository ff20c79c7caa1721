using Rwkv.Onnx.Export;

namespace Rwkv.Onnx.Tests.Fixtures;

/// <summary>Export options that give exactly a <see cref="QuantLayout"/> (every part set, as <c>export --quant</c> does).</summary>
internal static class LayoutExportOptions
{
    /// <summary>Options exporting <paramref name="layout"/>, with the model's group-norm epsilon.</summary>
    public static ExportOptions For(QuantLayout layout, float? groupNormEpsilon = null) => new()
    {
        WeightDType = layout.Bits,
        HeadWeightDType = layout.Head,
        BlockSize = layout.BlockSize,
        BlockRounding = layout.Rounding,
        Int8Roles = layout.Int8Roles,
        QuantizedCompute = layout.Compute,
        GroupNormEpsilon = groupNormEpsilon,
    };
}
