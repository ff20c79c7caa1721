using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Rwkv.Onnx.Export;
using Rwkv.Onnx.Export.Checkpoints;

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

    /// <summary>
    /// Makes <paramref name="command"/> refuse <paramref name="option"/> where it would have no effect on the
    /// <paramref name="checkpoint"/> argument: an exported model directory (its manifest records the epsilon) or a
    /// checkpoint without a group norm (RWKV-4). The second needs the checkpoint's tensor list, which is read then.
    /// </summary>
    public static void RefuseWhereNoEffect(Command command, Option<float?> option, Argument<string> checkpoint) =>
        command.Validators.Add(result =>
        {
            if (OptionValues.IsGiven(result, option) && OptionValues.TryGet(result, option, out float? epsilon) && epsilon is { } value
                && result.GetValue(checkpoint) is { } path && WhyNoEffect(path, value) is { } reason)
            {
                result.AddError($"--group-norm-eps: {reason}");
            }
        });

    private static string? WhyNoEffect(string path, float epsilon)
    {
        if (File.Exists(Path.Combine(path, RwkvContract.ManifestFile)))
        {
            return $"'{path}' is an exported model directory, whose manifest records the epsilon it was exported with; the option applies to checkpoints.";
        }
        RwkvCheckpointInfo info;
        try
        {
            info = RwkvExporter.Inspect(path, new ExportOptions { GroupNormEpsilon = epsilon });
        }
        catch (Exception e) when (e is CheckpointFormatException or IOException or InvalidDataException or UnauthorizedAccessException or ArgumentException)
        {
            return null; // not a checkpoint: the command itself says so
        }
        // An architecture with a group norm takes the epsilon given; RWKV-4 has none and records 0.
        return info.Architecture.GroupNormEpsilon == epsilon
            ? null
            : string.Create(CultureInfo.InvariantCulture,
                $"'{path}' is an RWKV-{info.Architecture.Version} checkpoint, which has no group norm (ln_x); the option would have no effect.");
    }
}
