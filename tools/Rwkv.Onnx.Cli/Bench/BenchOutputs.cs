namespace Rwkv.Onnx.Cli.Bench;

/// <summary>
/// The files <c>bench</c> and <c>bench compare</c> write (<c>--json</c>, <c>--markdown</c>, <c>--chart</c>), all or none.
/// <see cref="Check"/> runs before the first measurement: each path must name a file (not a directory, device, pipe
/// or socket) in an existing directory where files can be created, and no two options may name the same file.
/// <see cref="Write"/> writes every file to a temporary sibling (flushed to disk, so a full disk fails here), then
/// renames each over its target; if anything fails, it deletes the temporaries and the targets it already renamed,
/// so a failed run leaves no output, not even a partial one.
/// </summary>
internal sealed class BenchOutputs
{
    private readonly List<(string Option, string Path)> _outputs;
    private readonly Func<string, Stream> _create;

    private BenchOutputs(List<(string Option, string Path)> outputs, Func<string, Stream> create)
    {
        _outputs = outputs;
        _create = create;
    }

    /// <summary>Checks the requested outputs (options whose path is null were not given).</summary>
    /// <param name="requested">Each option's name and path.</param>
    /// <param name="create">Opens a new file for writing; tests inject failing streams. Default: a new <see cref="FileStream"/>.</param>
    /// <exception cref="UsageException">A path is empty, a directory, not a regular file, or named by two options.</exception>
    /// <exception cref="DirectoryNotFoundException">A path's directory does not exist.</exception>
    /// <exception cref="IOException">No file can be created in a path's directory.</exception>
    /// <exception cref="UnauthorizedAccessException">Creating files in a path's directory is not permitted.</exception>
    public static BenchOutputs Check(IEnumerable<(string Option, string? Path)> requested, Func<string, Stream>? create = null)
    {
        var outputs = new List<(string Option, string Path)>();
        foreach ((string option, string? path) in requested)
        {
            if (path is null)
            {
                continue;
            }
            string full = FullPath(option, path);
            if (Directory.Exists(full))
            {
                throw new UsageException($"{option}: '{path}' is a directory; expected the name of a file to write.");
            }
            if (File.Exists(full) && !FileKind.IsRegularFile(full))
            {
                throw new UsageException($"{option}: '{path}' is not a regular file (a device, pipe or socket); bench writes its outputs to regular files only.");
            }
            string directory = Path.GetDirectoryName(full)!;
            if (!Directory.Exists(directory))
            {
                throw new DirectoryNotFoundException($"{option}: the directory '{directory}' of '{path}' does not exist.");
            }
            foreach ((string other, string otherPath) in outputs)
            {
                if (string.Equals(otherPath, full, StringComparison.Ordinal))
                {
                    throw new UsageException($"{other} and {option} both name '{path}'; give each output its own file.");
                }
            }
            ProbeDirectory(option, directory);
            outputs.Add((option, full));
        }
        return new BenchOutputs(outputs, create ?? (p => new FileStream(p, FileMode.CreateNew, FileAccess.Write, FileShare.None)));
    }

    /// <summary>The full path given to <paramref name="option"/>, or null when it was not given.</summary>
    public string? PathOf(string option) => _outputs.Find(o => o.Option == option).Path;

    /// <summary>
    /// Writes each requested output's content (the producer of an option that was not given is not called): all to
    /// temporary siblings first, then renamed into place. On any failure nothing is left behind and the exception propagates.
    /// </summary>
    /// <param name="contents">Each option's name and a producer of its bytes.</param>
    public void Write(params (string Option, Func<byte[]> Content)[] contents)
    {
        var temporaries = new List<(string Temporary, string Target)>();
        var renamed = new List<string>();
        try
        {
            foreach ((string option, string target) in _outputs)
            {
                Func<byte[]> content = contents.Single(c => c.Option == option).Content;
                string temporary = TemporarySibling(target);
                temporaries.Add((temporary, target));
                using (Stream stream = _create(temporary))
                {
                    stream.Write(content());
                    if (stream is FileStream file)
                    {
                        file.Flush(flushToDisk: true); // a full disk shows here at the latest, before any target is touched
                    }
                }
            }
            foreach ((string temporary, string target) in temporaries)
            {
                File.Move(temporary, target, overwrite: true);
                renamed.Add(target);
            }
        }
        catch
        {
            foreach ((string temporary, _) in temporaries)
            {
                TryDelete(temporary);
            }
            foreach (string target in renamed)
            {
                TryDelete(target);
            }
            throw;
        }
    }

    private static string FullPath(string option, string path)
    {
        if (string.IsNullOrWhiteSpace(path))
        {
            throw new UsageException($"{option}: the file name is empty.");
        }
        try
        {
            return Path.GetFullPath(path);
        }
        catch (ArgumentException)
        {
            throw new UsageException($"{option}: '{path}' is not a valid file name.");
        }
    }

    // Creating (and deleting) a file now finds a read-only or unwritable directory before an hour of measurements.
    private static void ProbeDirectory(string option, string directory)
    {
        string probe = TemporarySibling(Path.Combine(directory, "probe"));
        try
        {
            using (new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"{option}: cannot create files in '{directory}': {e.Message}", e);
        }
        finally
        {
            TryDelete(probe);
        }
    }

    private static string TemporarySibling(string target) =>
        Path.Combine(Path.GetDirectoryName(target)!, $".{Path.GetFileName(target)}.{Guid.NewGuid():N}.tmp");

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort while another error propagates.
        }
    }
}
