using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Rwkv.Onnx.Exceptions;

namespace Rwkv.Onnx.Export.Output;

/// <summary>
/// The output directory of one export and the rules that keep an export from destroying anything the user made: it is
/// never the input, never holds it, never lies inside an input directory, is never the current, home or root directory
/// (nor one that holds them), and an existing output is replaced only when it is recognisably an earlier export. It also
/// owns the temporary sibling the export is written to, the swap into place, and the clean-up of what killed exports left.
/// </summary>
/// <remarks>
/// Siblings are named <c>.{name}.partial-{pid}-{guid}</c> (an export being written) and <c>.{name}.replaced-{pid}-{guid}</c>
/// (an earlier export renamed aside during an overwrite). A sibling whose process runs marks an export in progress, which
/// is how a second concurrent export to the same output is refused; one whose process is gone is a leftover.
/// </remarks>
internal sealed partial class ExportDestination
{
    private const string PartialTag = "partial";
    private const string ReplacedTag = "replaced";
    private const int ListedEntries = 4;

    private readonly List<string> _createdDirectories = [];

    /// <param name="outputDirectory">The output as the user gave it (relative paths against the current directory).</param>
    public ExportDestination(string outputDirectory)
    {
        AsGiven = outputDirectory;
        FullPath = Path.GetFullPath(Path.TrimEndingDirectorySeparator(outputDirectory));
        Parent = Path.GetDirectoryName(FullPath);
        Name = Path.GetFileName(FullPath);
        ResolvedPath = RealPath.Resolve(FullPath);
    }

    /// <summary>The output as given, for messages.</summary>
    public string AsGiven { get; }

    /// <summary>The absolute output path every file operation uses.</summary>
    public string FullPath { get; }

    /// <summary><see cref="FullPath"/> with symbolic links resolved, for comparisons.</summary>
    public string ResolvedPath { get; }

    private string? Parent { get; }

    private string Name { get; }

    /// <summary>Refuses a file-system root, the current directory, the home directory, and any directory holding one of them.</summary>
    /// <exception cref="ExportOutputException"><see cref="ExportOutputConflict.ProtectedDirectory"/>.</exception>
    public void CheckNotProtected()
    {
        if (Parent is null || string.Equals(Path.GetPathRoot(ResolvedPath), ResolvedPath, RealPath.Comparison))
        {
            throw Refuse(ExportOutputConflict.ProtectedDirectory,
                $"Output '{AsGiven}' is a file-system root; give the export a directory of its own", ResolvedPath);
        }
        foreach ((string what, string directory) in new[]
        {
            ("the current directory", Environment.CurrentDirectory),
            ("the home directory", Environment.GetFolderPath(Environment.SpecialFolder.UserProfile)),
        })
        {
            if (directory.Length == 0)
            {
                continue;
            }
            string resolved = RealPath.Resolve(directory);
            if (RealPath.IsSameOrInside(resolved, ResolvedPath))
            {
                string relation = string.Equals(resolved, ResolvedPath, RealPath.Comparison) ? "is" : "contains";
                throw Refuse(ExportOutputConflict.ProtectedDirectory,
                    $"Output '{AsGiven}' {relation} {what} ('{directory}'); give the export a directory of its own", directory);
            }
        }
    }

    /// <summary>Refuses an output that is an input, holds one, or lies inside an input directory.</summary>
    /// <param name="inputs">Every file and directory the export reads: the checkpoint (file or directory), its data files, the tokenizer file.</param>
    /// <exception cref="ExportOutputException">
    /// <see cref="ExportOutputConflict.IsInput"/>, <see cref="ExportOutputConflict.ContainsInput"/> or <see cref="ExportOutputConflict.InsideInput"/>.
    /// </exception>
    public void CheckNotInput(IEnumerable<string> inputs)
    {
        foreach (string input in inputs)
        {
            string resolved = RealPath.Resolve(input);
            if (string.Equals(resolved, ResolvedPath, RealPath.Comparison))
            {
                string what = input == AsGiven ? "" : $" '{input}',";
                throw Refuse(ExportOutputConflict.IsInput, $"Output '{AsGiven}' is{what} an input of this export; choose another directory", input);
            }
            if (RealPath.IsSameOrInside(resolved, ResolvedPath))
            {
                throw Refuse(ExportOutputConflict.ContainsInput, $"Output '{AsGiven}' contains '{input}', which this export reads; choose another directory", input);
            }
            if (Directory.Exists(resolved) && RealPath.IsSameOrInside(ResolvedPath, resolved))
            {
                throw Refuse(ExportOutputConflict.InsideInput, $"Output '{AsGiven}' is inside '{input}', which this export reads; choose a directory outside it", input);
            }
        }
    }

    /// <summary>
    /// Refuses an existing output, other than an empty directory, unless <paramref name="overwrite"/> is set and it is an
    /// earlier export; nothing is touched.
    /// </summary>
    /// <exception cref="ExportOutputException"><see cref="ExportOutputConflict.Exists"/> or <see cref="ExportOutputConflict.NotAnExport"/>.</exception>
    public void CheckExisting(bool overwrite)
    {
        if (!Occupied(FullPath) || IsEmptyDirectory(FullPath))
        {
            return; // an empty directory holds nothing to lose: the export takes its place
        }
        bool isExport = IsEarlierExport(FullPath, out string? detail, out string? inTheWay);
        if (!overwrite)
        {
            string what = isExport ? " and holds an earlier export" : $" ({detail})";
            throw new ExportOutputException($"Output '{AsGiven}' already exists{what}; choose another directory.",
                AsGiven, ExportOutputConflict.Exists, FullPath, detail, isExport);
        }
        if (!isExport)
        {
            throw NotAnExport(detail!, inTheWay!);
        }
    }

    /// <summary>
    /// Creates the temporary sibling to write the export to (and the output's missing parent directories), after making
    /// sure no other export to the same output is in progress.
    /// </summary>
    /// <returns>The temporary directory; pass it to <see cref="Commit"/> or <see cref="Abandon"/>.</returns>
    /// <exception cref="ExportOutputException"><see cref="ExportOutputConflict.ExportInProgress"/>.</exception>
    public string CreateTemporary()
    {
        CreateParents();
        string temporary = SiblingPath(PartialTag);
        Directory.CreateDirectory(temporary);
        // Checked after our own sibling exists: of two exports starting together, at least one sees the other.
        if (Siblings(Name).FirstOrDefault(s => IsRunning(s.ProcessId) && s.Path != temporary) is { Path: not null } other)
        {
            Abandon(temporary);
            throw Refuse(ExportOutputConflict.ExportInProgress,
                $"Another export to '{AsGiven}' is in progress (process {other.ProcessId}, writing '{Path.GetFileName(other.Path)}'); wait for it to finish or choose another directory",
                other.Path);
        }
        return temporary;
    }

    /// <summary>
    /// Renames the complete <paramref name="temporary"/> directory to the output. An earlier export in the way is renamed
    /// aside first, restored if the rename fails, and deleted after it succeeds, so the output holds the old model or the new
    /// one, never a mix.
    /// </summary>
    /// <exception cref="ExportOutputException">
    /// The output appeared during the export without <paramref name="overwrite"/>, or is no longer an earlier export.
    /// </exception>
    public void Commit(string temporary, bool overwrite)
    {
        if (IsEmptyDirectory(FullPath))
        {
            Directory.Delete(FullPath, recursive: false); // fails, keeping it, if something arrived in it meanwhile
        }
        if (!Occupied(FullPath))
        {
            Directory.Move(temporary, FullPath);
            return;
        }
        if (!overwrite)
        {
            throw Refuse(ExportOutputConflict.Exists, $"Output '{AsGiven}' appeared during the export; choose another directory", FullPath);
        }
        if (!IsEarlierExport(FullPath, out string? detail, out string? inTheWay))
        {
            throw NotAnExport(detail!, inTheWay!); // it changed while the export ran
        }
        string backup = SiblingPath(ReplacedTag);
        Directory.Move(FullPath, backup);
        try
        {
            Directory.Move(temporary, FullPath);
        }
        catch
        {
            Directory.Move(backup, FullPath);
            throw;
        }
        TryDelete(backup);
    }

    /// <summary>Deletes the temporary directory and the parent directories this export created; best effort.</summary>
    public void Abandon(string temporary)
    {
        TryDelete(temporary);
        for (int i = _createdDirectories.Count - 1; i >= 0; i--)
        {
            try
            {
                Directory.Delete(_createdDirectories[i], recursive: false); // only if still empty
            }
            catch (IOException)
            {
                break;
            }
            catch (UnauthorizedAccessException)
            {
                break;
            }
        }
        _createdDirectories.Clear();
    }

    /// <summary>
    /// Removes what killed exports left beside the output, for any output name in the same parent directory: a
    /// <c>.partial-</c> directory is deleted; a <c>.replaced-</c> one (an earlier export renamed aside by an overwrite) is
    /// renamed back when its name is free, and deleted when the new export took its place. Siblings of running processes,
    /// and anything that does not look like what an export writes, are left alone.
    /// </summary>
    public IReadOnlyList<ExportLeftover> CleanUpLeftovers()
    {
        if (Parent is null || !Directory.Exists(Parent))
        {
            return [];
        }
        var cleaned = new List<ExportLeftover>();
        foreach (Sibling sibling in Siblings(name: null).ToList()) // materialised: the loop renames and deletes
        {
            if (IsRunning(sibling.ProcessId) || !Directory.Exists(sibling.Path) || new DirectoryInfo(sibling.Path).LinkTarget is not null)
            {
                continue;
            }
            try
            {
                long bytes = FlatFileBytes(sibling.Path);
                if (bytes < 0 || (sibling.Tag == ReplacedTag && !IsEarlierExport(sibling.Path, out _, out _)))
                {
                    continue; // holds something an export does not write: not ours to remove
                }
                string original = Path.Combine(Parent, sibling.Name);
                if (sibling.Tag == ReplacedTag && !Occupied(original))
                {
                    Directory.Move(sibling.Path, original);
                    cleaned.Add(new ExportLeftover(sibling.Path, sibling.ProcessId, bytes, original));
                }
                else
                {
                    Directory.Delete(sibling.Path, recursive: true);
                    cleaned.Add(new ExportLeftover(sibling.Path, sibling.ProcessId, bytes, RestoredTo: null));
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Best effort: a leftover that cannot be removed now is tried again by the next export.
            }
        }
        return cleaned;
    }

    private static readonly string[] s_genaiExportFiles =
    [
        Genai.GenaiConfig.File, RwkvContract.StepGraphFile, RwkvContract.PrefillGraphFile, RwkvContract.WeightsFile,
        Genai.GenaiTokenizerFiles.TokenizerFile, Genai.GenaiTokenizerFiles.TokenizerConfigFile,
    ];

    // Whether directory holds a genai_config.json of a decoder pipeline whose stages are our prefill and step graphs.
    private static bool IsGenaiExport(string directory)
    {
        try
        {
            using JsonDocument config = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(directory, Genai.GenaiConfig.File)));
            return config.RootElement.ValueKind == JsonValueKind.Object
                && config.RootElement.TryGetProperty("model", out JsonElement model) && model.ValueKind == JsonValueKind.Object
                && model.TryGetProperty("type", out JsonElement type) && type.ValueKind == JsonValueKind.String && type.GetString() == "decoder-pipeline"
                && model.TryGetProperty("decoder", out JsonElement decoder) && decoder.ValueKind == JsonValueKind.Object
                && decoder.TryGetProperty("pipeline", out JsonElement pipeline) && pipeline.ValueKind == JsonValueKind.Array
                && pipeline.GetRawText() is { } stages
                && stages.Contains($"\"{RwkvContract.StepGraphFile}\"", StringComparison.Ordinal)
                && stages.Contains($"\"{RwkvContract.PrefillGraphFile}\"", StringComparison.Ordinal);
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    // The files named by the manifest of an export in an older format (format_version 1 up to this one), which this
    // version no longer reads as a whole; null when the manifest is not one.
    private static IEnumerable<string>? OlderExportFiles(string directory)
    {
        try
        {
            using JsonDocument manifest = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(directory, RwkvContract.ManifestFile)));
            JsonElement root = manifest.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("format_version", out JsonElement version)
                || !version.TryGetInt32(out int number) || number is < 1 or >= RwkvContract.FormatVersion)
            {
                return null;
            }
            List<string> files = [];
            foreach (string key in new[] { "step_graph", "prefill_graph", "state_copy_graph", "weights", "tokenizer" })
            {
                if (root.TryGetProperty(key, out JsonElement entry) && entry.ValueKind == JsonValueKind.Object
                    && entry.TryGetProperty("file", out JsonElement file) && file.ValueKind == JsonValueKind.String
                    && file.GetString() is { Length: > 0 } name && Path.GetFileName(name) == name)
                {
                    files.Add(name);
                }
            }
            return files;
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>
    /// Whether <paramref name="directory"/> is recognisably an export: a real directory (not a link) holding a valid
    /// <see cref="RwkvContract.ManifestFile"/> and nothing but regular files the manifest names, or (a genai export)
    /// a <c>genai_config.json</c> naming our graphs and nothing but the files a genai export writes.
    /// </summary>
    /// <param name="directory">The directory to look at.</param>
    /// <param name="detail">When not an export: what it is, as a clause for a message.</param>
    /// <param name="inTheWay">When not an export: the first entry that is not an export's.</param>
    internal static bool IsEarlierExport(string directory, out string? detail, out string? inTheWay)
    {
        inTheWay = directory;
        if (new FileInfo(directory).LinkTarget is not null)
        {
            detail = "it is a symbolic link";
            return false;
        }
        if (!Directory.Exists(directory))
        {
            detail = "it is a file";
            return false;
        }
        string? problem = null;
        var exportFiles = new HashSet<string>(StringComparer.Ordinal) { RwkvContract.ManifestFile };
        try
        {
            RwkvManifest manifest = RwkvManifest.Load(directory);
            exportFiles.UnionWith([manifest.StepGraph.File, manifest.PrefillGraph.File, manifest.StateCopyGraph.File, manifest.Weights.File]);
            if (manifest.Tokenizer.File is { } tokenizer)
            {
                exportFiles.Add(tokenizer);
            }
        }
        catch (ModelContractException e) when (e.Key == "format_version" && OlderExportFiles(directory) is { } older)
        {
            // The runtime asks for a re-export of an older format's directory; replacing it must not need a manual delete.
            exportFiles.UnionWith(older);
        }
        catch (ModelContractException) when (!File.Exists(Path.Combine(directory, RwkvContract.ManifestFile)) && IsGenaiExport(directory))
        {
            // An ExportTarget.Genai export has no manifest: its genai_config.json names the pipeline, and it holds only our files.
            exportFiles.UnionWith(s_genaiExportFiles);
        }
        catch (ModelContractException)
        {
            problem = File.Exists(Path.Combine(directory, RwkvContract.ManifestFile))
                ? $"its {RwkvContract.ManifestFile} is not a valid manifest"
                : $"no {RwkvContract.ManifestFile}";
        }
        List<FileSystemInfo> foreign = [.. new DirectoryInfo(directory).EnumerateFileSystemInfos()
            .Where(e => e is not FileInfo || e.LinkTarget is not null || !exportFiles.Contains(e.Name))
            .OrderBy(e => e.Name, StringComparer.Ordinal)];
        if (problem is null && foreign.Count == 0)
        {
            detail = null;
            inTheWay = null;
            return true;
        }
        IEnumerable<string> listed = foreign.Take(ListedEntries).Select(e => e is DirectoryInfo ? $"'{e.Name}/'" : $"'{e.Name}'");
        string more = foreign.Count > ListedEntries ? string.Create(CultureInfo.InvariantCulture, $" and {foreign.Count - ListedEntries} more") : "";
        string holds = foreign.Count > 0 ? $"it holds {string.Join(", ", listed)}{more}" : "";
        detail = (holds, problem) switch
        {
            ("", _) => problem == $"no {RwkvContract.ManifestFile}" ? "it is an empty directory" : problem,
            (_, null) => $"{holds}, which an export does not write",
            (_, _) when problem!.StartsWith("no ", StringComparison.Ordinal) => $"{holds} and {problem}",
            _ => $"{holds}, and {problem}",
        };
        inTheWay = foreign.Count > 0 ? foreign[0].FullName : Path.Combine(directory, RwkvContract.ManifestFile);
        return false;
    }

    private ExportOutputException NotAnExport(string detail, string inTheWay) => new(
        $"Output '{AsGiven}' exists and is not an earlier export ({detail}); only an earlier export is replaced, so nothing was touched. Choose another directory.",
        AsGiven, ExportOutputConflict.NotAnExport, inTheWay, detail);

    private ExportOutputException Refuse(ExportOutputConflict conflict, string message, string conflictingPath) =>
        new($"{message}.", AsGiven, conflict, conflictingPath);

    private void CreateParents()
    {
        var missing = new Stack<string>();
        for (string? directory = Parent; directory is not null && !Directory.Exists(directory); directory = Path.GetDirectoryName(directory))
        {
            missing.Push(directory);
        }
        while (missing.TryPop(out string? directory))
        {
            Directory.CreateDirectory(directory);
            _createdDirectories.Add(directory);
        }
    }

    // .{name}.{tag}-{pid}-{guid}: hidden, never named like a model, and carrying its owner's process id.
    private string SiblingPath(string tag) =>
        Path.Combine(Parent!, string.Create(CultureInfo.InvariantCulture, $".{Name}.{tag}-{Environment.ProcessId}-{Guid.NewGuid():N}"));

    private readonly record struct Sibling(string Path, string Name, string Tag, int ProcessId);

    // The siblings of output `name` (every output name when null) in the parent directory.
    private IEnumerable<Sibling> Siblings(string? name)
    {
        if (Parent is null || !Directory.Exists(Parent))
        {
            yield break;
        }
        foreach (string path in Directory.EnumerateFileSystemEntries(Parent, name is null ? ".*" : $".{name}.*"))
        {
            Match match = SiblingPattern().Match(Path.GetFileName(path));
            if (match.Success && (name is null || match.Groups["name"].Value == name)
                && int.TryParse(match.Groups["pid"].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out int pid))
            {
                yield return new Sibling(path, match.Groups["name"].Value, match.Groups["tag"].Value, pid);
            }
        }
    }

    [GeneratedRegex(@"^\.(?<name>.+)\.(?<tag>partial|replaced)-(?<pid>[0-9]{1,10})-[0-9a-f]{32}$", RegexOptions.CultureInvariant)]
    private static partial Regex SiblingPattern();

    // Anything at the path, including a dangling symbolic link.
    private static bool Occupied(string path) => Directory.Exists(path) || File.Exists(path) || new FileInfo(path).LinkTarget is not null;

    private static bool IsEmptyDirectory(string path) =>
        Directory.Exists(path) && new DirectoryInfo(path).LinkTarget is null && !Directory.EnumerateFileSystemEntries(path).Any();

    // Bytes of the regular files directly in the directory, or -1 when it holds anything else.
    private static long FlatFileBytes(string directory)
    {
        long bytes = 0;
        foreach (FileSystemInfo entry in new DirectoryInfo(directory).EnumerateFileSystemInfos())
        {
            if (entry is not FileInfo file || entry.LinkTarget is not null)
            {
                return -1;
            }
            bytes += file.Length;
        }
        return bytes;
    }

    private static bool IsRunning(int pid)
    {
        if (pid == Environment.ProcessId)
        {
            return true;
        }
        try
        {
            using Process process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false; // no such process
        }
        catch (InvalidOperationException)
        {
            return false;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return true; // exists but cannot be inspected: assume it is exporting
        }
    }

    // A directory (recursively) or a file; best effort.
    private static void TryDelete(string path)
    {
        try
        {
            if (Directory.Exists(path))
            {
                Directory.Delete(path, recursive: true);
            }
            else
            {
                File.Delete(path);
            }
        }
        catch (IOException)
        {
            // Best effort: the original exception matters more than a leftover temporary directory.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
