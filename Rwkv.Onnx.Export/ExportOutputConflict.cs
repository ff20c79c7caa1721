namespace Rwkv.Onnx.Export;

/// <summary>Why <see cref="RwkvExporter.Export"/> refused an output directory (<see cref="ExportOutputException.Conflict"/>).</summary>
public enum ExportOutputConflict
{
    /// <summary>The output exists and <see cref="ExportOptions.Overwrite"/> is false.</summary>
    Exists,

    /// <summary>
    /// The output exists and is not recognisably an export (a directory holding <see cref="RwkvContract.ManifestFile"/>
    /// and nothing but the files an export writes), so <see cref="ExportOptions.Overwrite"/> does not replace it.
    /// </summary>
    NotAnExport,

    /// <summary>The output is the checkpoint (or tokenizer file) being exported.</summary>
    IsInput,

    /// <summary>The output directory contains a file the export reads.</summary>
    ContainsInput,

    /// <summary>The output lies inside the checkpoint directory being exported.</summary>
    InsideInput,

    /// <summary>The output is, or contains, the current directory, the home directory or a file-system root.</summary>
    ProtectedDirectory,

    /// <summary>Another export to the same output is in progress.</summary>
    ExportInProgress,
}
