using Rwkv.Onnx.Export.Output;

namespace Rwkv.Onnx.Cli.Output;

/// <summary>
/// The files a command writes (<c>bench --json/--markdown/--chart</c>, <c>logits --out</c>, <c>random-checkpoint -o</c>),
/// all or none. <see cref="Check"/> runs before any work: each path must name a file (not a directory, device, pipe or
/// socket) in an existing directory where files can be created, not a file the command reads, not an existing file
/// unless replacing is allowed, and no two options may name the same file. <see cref="Write"/> writes every file to a
/// temporary sibling (flushed to disk, so a full disk fails here), then renames each over its target; if anything fails,
/// it deletes the temporaries and the targets it already renamed, so a failed command leaves no output, not even a partial one.
/// </summary>
internal sealed class OutputFiles
{
    private readonly List<(string Option, string Path)> _outputs;
    private readonly Func<string, Stream> _create;

    private OutputFiles(List<(string Option, string Path)> outputs, Func<string, Stream> create)
    {
        _outputs = outputs;
        _create = create;
    }

    /// <summary>Checks the requested outputs (options whose path is null were not given).</summary>
    /// <param name="requested">Each option's name and path.</param>
    /// <param name="replace">
    /// Whether an existing regular file may be replaced; when false it is refused, naming <paramref name="forceOption"/>.
    /// </param>
    /// <param name="forceOption">The option that allows replacing, for the message; null when there is none.</param>
    /// <param name="inputs">Files and directories the command reads: an output that is one of them or lies inside one is refused.</param>
    /// <param name="create">Opens a new file for writing; tests inject failing streams. Default: a new <see cref="FileStream"/>.</param>
    /// <exception cref="UsageException">A path is empty, a directory, not a regular file, an input, an existing file that may not be replaced, or named by two options.</exception>
    /// <exception cref="DirectoryNotFoundException">A path's directory does not exist.</exception>
    /// <exception cref="IOException">No file can be created in a path's directory.</exception>
    public static OutputFiles Check(IEnumerable<(string Option, string? Path)> requested, bool replace = true, string? forceOption = null,
        IEnumerable<string>? inputs = null, Func<string, Stream>? create = null)
    {
        List<(string Input, string Resolved)> read = [.. (inputs ?? []).Select(i => (i, RealPath.Resolve(i)))];
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
            string resolved = RealPath.Resolve(full);
            foreach ((string input, string resolvedInput) in read)
            {
                if (RealPath.IsSameOrInside(resolved, resolvedInput))
                {
                    string what = string.Equals(resolved, resolvedInput, RealPath.Comparison) ? "a file" : $"inside '{input}', which";
                    throw new UsageException($"{option}: '{path}' is {what} this command reads; choose another file.");
                }
            }
            if (File.Exists(full) && !FileKind.IsRegularFile(full))
            {
                throw new UsageException($"{option}: '{path}' is not a regular file (a device, pipe or socket); outputs are written to regular files only.");
            }
            if (File.Exists(full) && !replace)
            {
                string force = forceOption is null ? "" : $", or pass {forceOption} to replace it";
                throw new UsageException($"{option}: '{path}' already exists; choose another file{force}.");
            }
            string directory = Path.GetDirectoryName(full)!;
            if (!Directory.Exists(directory))
            {
                throw new DirectoryNotFoundException($"{option}: the directory '{directory}' of '{path}' does not exist.");
            }
            foreach ((string other, string otherPath) in outputs)
            {
                if (string.Equals(otherPath, full, RealPath.Comparison))
                {
                    throw new UsageException($"{other} and {option} both name '{path}'; give each output its own file.");
                }
            }
            ProbeDirectory(option, directory);
            outputs.Add((option, full));
        }
        return new OutputFiles(outputs, create ?? (p => new FileStream(p, FileMode.CreateNew, FileAccess.Write, FileShare.None)));
    }

    /// <summary>The full path given to <paramref name="option"/>, or null when it was not given.</summary>
    public string? PathOf(string option) => _outputs.Find(o => o.Option == option).Path;

    /// <summary>
    /// Writes each requested output's content (the writer of an option that was not given is not called): all to
    /// temporary siblings first, then renamed into place. On any failure nothing is left behind and the exception propagates.
    /// </summary>
    /// <param name="contents">Each option's name and a writer of its bytes into the stream it is given.</param>
    public void Write(params (string Option, Action<Stream> Content)[] contents) =>
        WriteFiles([.. contents.Select(c => (c.Option, (Action<string>)(temporary => WriteStream(temporary, c.Content))))]);

    /// <summary>As <see cref="Write"/> for one output written by a writer that takes a path (it must create the file).</summary>
    public void WriteFile(string option, Action<string> writeFile) =>
        WriteFiles([(option, temporary =>
        {
            writeFile(temporary);
            using var written = new FileStream(temporary, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
            written.Flush(flushToDisk: true);
        })]);

    private void WriteStream(string temporary, Action<Stream> content)
    {
        using Stream stream = _create(temporary);
        content(stream);
        if (stream is FileStream file)
        {
            file.Flush(flushToDisk: true); // a full disk shows here at the latest, before any target is touched
        }
    }

    private void WriteFiles(List<(string Option, Action<string> WriteTemporary)> writers)
    {
        var temporaries = new List<(string Temporary, string Target)>();
        var renamed = new List<string>();
        try
        {
            foreach ((string option, string target) in _outputs)
            {
                Action<string> write = writers.Single(w => w.Option == option).WriteTemporary;
                string temporary = TemporarySibling(target);
                temporaries.Add((temporary, target));
                write(temporary);
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

    // Creating (and deleting) a file now finds a read-only or unwritable directory before the work that would be lost.
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
