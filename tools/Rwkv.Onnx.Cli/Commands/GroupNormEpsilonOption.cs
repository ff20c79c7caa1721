using System.CommandLine;

namespace Rwkv.Onnx.Cli.Commands;

/// <summary><c>--group-norm-eps E</c>, shared by <c>export</c> and <c>inspect</c>.</summary>
internal static class GroupNormEpsilonOption
{
    public static Option<float?> Create() => new Option<float?>("--group-norm-eps")
    {
        Description = "Epsilon of the per-head group norm ln_x (RWKV-5 and later), a training convention the weights do not record. " +
            "Default: the published 64e-5. rwkv.cpp's tiny RWKV-5 test models need 1e-5.",
        HelpName = "E",
    }.InRange(NumericRange.Above(0f, 1f));
}
