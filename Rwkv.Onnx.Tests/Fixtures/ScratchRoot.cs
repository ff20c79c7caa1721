namespace Rwkv.Onnx.Tests.Fixtures;

/// <summary>A temporary directory for one test run's models and scratch copies, deleted at the end of the run.</summary>
/// <param name="prefix">Start of the directory's name under the system temporary directory.</param>
internal sealed class ScratchRoot(string prefix)
{
    private string? _path;

    /// <summary>The root; valid between <see cref="Create"/> and <see cref="Delete"/>.</summary>
    public string Path => _path ?? throw new InvalidOperationException($"The '{prefix}' test root does not exist: its set-up did not run.");

    /// <summary>Creates the root.</summary>
    public void Create() => _path = Directory.CreateTempSubdirectory(prefix).FullName;

    /// <summary>Deletes the root and everything in it.</summary>
    public void Delete()
    {
        if (_path is not null && Directory.Exists(_path))
        {
            Directory.Delete(_path, recursive: true);
        }
        _path = null;
    }

    /// <summary>Creates an empty directory under the root.</summary>
    public string CreateDirectory()
    {
        string path = System.IO.Path.Combine(Path, Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(path);
        return path;
    }

    /// <summary>Copies a model directory (flat) into a new directory under the root, so a test may damage the copy.</summary>
    public string CopyModel(string source)
    {
        string target = CreateDirectory();
        foreach (string file in Directory.GetFiles(source))
        {
            File.Copy(file, System.IO.Path.Combine(target, System.IO.Path.GetFileName(file)));
        }
        return target;
    }
}
