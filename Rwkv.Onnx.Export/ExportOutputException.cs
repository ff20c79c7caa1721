namespace Rwkv.Onnx.Export;

/// <summary>
/// <see cref="RwkvExporter.Export"/> refused its output directory before touching anything: it exists, it is not an earlier
/// export, it is or holds the input, it is a protected directory, or another export to it is running.
/// </summary>
public sealed class ExportOutputException : IOException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">A full-sentence message naming the output and the conflict.</param>
    /// <param name="outputPath">The output directory, as given.</param>
    /// <param name="conflict">Why it was refused.</param>
    /// <param name="conflictingPath">The path in the way (the input file, an entry of the output, ...), if one.</param>
    /// <param name="detail">What is in the way, as a clause (e.g. <c>it holds 'notes.txt', which an export does not write</c>), if anything.</param>
    /// <param name="isEarlierExport">Whether the existing output is an earlier export that overwriting may replace.</param>
    public ExportOutputException(string message, string outputPath, ExportOutputConflict conflict,
        string? conflictingPath = null, string? detail = null, bool isEarlierExport = false)
        : base(message)
    {
        OutputPath = outputPath;
        Conflict = conflict;
        ConflictingPath = conflictingPath;
        Detail = detail;
        IsEarlierExport = isEarlierExport;
    }

    /// <summary>The output directory, as given to the exporter.</summary>
    public string OutputPath { get; }

    /// <summary>Why the output was refused.</summary>
    public ExportOutputConflict Conflict { get; }

    /// <summary>
    /// The path at the heart of the conflict: the input file or directory, the first entry that is not an export file,
    /// the protected directory, or the other export's temporary directory; null when there is none.
    /// </summary>
    public string? ConflictingPath { get; }

    /// <summary>
    /// For an existing output that is not an earlier export, what it is, as a clause (<c>it is a file</c>, <c>it holds
    /// 'notes.txt' and 'photos/', which an export does not write</c>); null otherwise.
    /// </summary>
    public string? Detail { get; }

    /// <summary>
    /// For <see cref="ExportOutputConflict.Exists"/>: whether the existing output is an earlier export, which
    /// <see cref="ExportOptions.Overwrite"/> would replace.
    /// </summary>
    public bool IsEarlierExport { get; }
}
