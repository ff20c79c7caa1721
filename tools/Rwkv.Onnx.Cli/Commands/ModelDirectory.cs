using Rwkv.Onnx.Export;
using Rwkv.Onnx.Export.Checkpoints;

namespace Rwkv.Onnx.Cli.Commands;

/// <summary>
/// The check on a command's exported-model-directory argument before it is loaded. A checkpoint given there by mistake
/// is named as one, with the export command that turns it into a model directory; the runtime alone could only say
/// that no model directory exists.
/// </summary>
internal static class ModelDirectory
{
    /// <summary>Returns <paramref name="path"/> unless it is a checkpoint or a file; a missing or incomplete directory is left to <see cref="RwkvModel.Load"/> to describe.</summary>
    /// <param name="path">The argument's value.</param>
    /// <exception cref="UsageException"><paramref name="path"/> is a checkpoint (file or Hugging Face directory) or another file.</exception>
    public static string Require(string path)
    {
        if (File.Exists(Path.Combine(path, RwkvContract.ManifestFile)) || !(File.Exists(path) || Directory.Exists(path)))
        {
            return path;
        }
        if (Checkpoint(path) is { } checkpoint)
        {
            string quoted = path.Contains(' ', StringComparison.Ordinal) ? $"\"{path}\"" : path;
            throw new UsageException(
                $"'{path}' is {checkpoint}, not an exported model directory; export it first: rwkv-onnx export {quoted} -o <model-dir>");
        }
        if (File.Exists(path))
        {
            throw new UsageException($"'{path}' is a file; expected an exported model directory (one with {RwkvContract.ManifestFile}).");
        }
        return path;
    }

    // "an RWKV-7 checkpoint (rwkv.cpp)", or null when the path is no checkpoint the exporter reads.
    private static string? Checkpoint(string path)
    {
        try
        {
            RwkvCheckpointInfo info = RwkvExporter.Inspect(path);
            return $"an RWKV-{info.Architecture.Version} checkpoint ({info.Format})";
        }
        catch (Exception e) when (e is CheckpointFormatException or IOException or InvalidDataException or UnauthorizedAccessException or ArgumentException)
        {
            return null;
        }
    }
}
