namespace Rwkv.Onnx.Export;

/// <summary>
/// A temporary directory that a killed export left beside its output, and what <see cref="RwkvExporter.CleanUpLeftovers"/>
/// did with it.
/// </summary>
/// <param name="Path">The leftover: <c>.{name}.partial-{pid}-{guid}</c> or <c>.{name}.replaced-{pid}-{guid}</c>.</param>
/// <param name="ProcessId">The export process that left it, no longer running.</param>
/// <param name="Bytes">Bytes of the files it held.</param>
/// <param name="RestoredTo">
/// For an earlier model that a killed overwrite had renamed aside and whose name was free again: the path it was renamed
/// back to. Null when the leftover was deleted.
/// </param>
public sealed record ExportLeftover(string Path, int ProcessId, long Bytes, string? RestoredTo);
