namespace Rwkv.Onnx.Export.Output;

/// <summary>
/// Absolute paths with every symbolic link resolved (POSIX <c>realpath</c> semantics, also for parts that do not exist
/// yet), and comparisons between them, so that "is the output the input?" cannot be fooled by <c>..</c>, a relative
/// path or a link. Public so that tools writing other outputs next to a model (the CLI's <c>--out</c> files) apply the
/// exporter's rule.
/// </summary>
public static class RealPath
{
    private const int MaxLinks = 40; // Linux's own limit on links followed while resolving one path

    /// <summary>How paths compare on this platform's usual file systems.</summary>
    public static StringComparison Comparison { get; } =
        OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;

    /// <summary>
    /// <paramref name="path"/> made absolute, with each existing component that is a symbolic link replaced by its target
    /// and <c>..</c> taken after that replacement; components that do not exist are kept as written.
    /// </summary>
    /// <exception cref="IOException">More than 40 links, or a link cycle.</exception>
    public static string Resolve(string path)
    {
        string full = Path.GetFullPath(path);
        string root = Path.GetPathRoot(full)!; // a full path has a root
        var pending = new Stack<string>(Components(full[root.Length..]).Reverse());
        string current = root;
        int links = 0;
        while (pending.TryPop(out string? part))
        {
            if (part == ".")
            {
                continue;
            }
            if (part == "..")
            {
                current = Path.GetDirectoryName(current) ?? current; // `current` has no links, so its parent is real
                continue;
            }
            string next = Path.Combine(current, part);
            if (new FileInfo(next).LinkTarget is not { } target)
            {
                current = next;
                continue;
            }
            if (++links > MaxLinks)
            {
                throw new IOException($"Too many levels of symbolic links in '{path}'.");
            }
            string targetRoot = Path.GetPathRoot(target) ?? "";
            if (targetRoot.Length > 0)
            {
                current = Path.GetFullPath(targetRoot); // an absolute target restarts at its root
            }
            foreach (string targetPart in Components(target[targetRoot.Length..]).Reverse())
            {
                pending.Push(targetPart);
            }
        }
        return current;
    }

    /// <summary>Whether resolved <paramref name="path"/> is <paramref name="directory"/> or lies anywhere below it.</summary>
    public static bool IsSameOrInside(string path, string directory) =>
        string.Equals(path, directory, Comparison)
        || path.StartsWith(Path.EndsInDirectorySeparator(directory) ? directory : directory + Path.DirectorySeparatorChar, Comparison);

    private static IEnumerable<string> Components(string relative) =>
        relative.Split([Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar], StringSplitOptions.RemoveEmptyEntries);
}
