using Rwkv.Onnx.Export.Checkpoints;

namespace Rwkv.Onnx.Export.Architectures;

/// <summary>
/// The version table: each entry recognises its version from tensor names and shapes (never from file
/// names) and returns null otherwise. The first match wins, newest version first; the chosen architecture
/// then checks that every tensor it needs is present with the right shape.
/// </summary>
internal static class RwkvArchitectures
{
    private static readonly Func<RwkvCheckpoint, ExportOptions, RwkvArchitecture?>[] s_versions =
    [
        RwkvV7.TryCreate,
        RwkvV6.TryCreate,
        RwkvV5.TryCreate,
        RwkvV4.TryCreate,
    ];

    /// <summary>The marker tensors of each version, for the message when nothing matches.</summary>
    private const string Markers =
        "'blocks.0.att.k_k' + 'blocks.0.att.r_k' (RWKV-7), 'blocks.0.att.time_maa_x' (RWKV-6), " +
        "'blocks.0.att.ln_x.weight' (RWKV-5), 'blocks.0.att.time_first' (RWKV-4)";

    public static RwkvArchitecture Detect(RwkvCheckpoint checkpoint, ExportOptions options)
    {
        foreach (Func<RwkvCheckpoint, ExportOptions, RwkvArchitecture?> tryCreate in s_versions)
        {
            if (tryCreate(checkpoint, options) is { } architecture)
            {
                architecture.CheckTensors(checkpoint);
                return architecture;
            }
        }
        string found = string.Join(", ", checkpoint.Tensors.Keys.Take(8)) + (checkpoint.Tensors.Count > 8 ? $", ... ({checkpoint.Tensors.Count} tensors)" : "");
        throw new CheckpointFormatException(checkpoint.Path, null,
            $"Checkpoint '{checkpoint.Path}' is not a known RWKV model: it has none of {Markers}. Found: {found}.");
    }
}
