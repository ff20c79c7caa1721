using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Examples;

/// <summary>
/// The npm projects under <c>examples/</c> and the Node that runs them. Their packages come from <c>npm ci</c> with
/// each project's lockfile (<c>run-tests.sh</c> does it); a project that was not installed fails its tests, naming the
/// command that installs it, rather than skipping them.
/// </summary>
internal static class ExampleProjects
{
    /// <summary>How long one run of an example may take before the test kills it and fails.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    /// <summary>The example <c>examples/{name}</c>, after checking that <paramref name="package"/> is installed in it.</summary>
    public static string Directory(string name, string package)
    {
        string directory = Path.Combine(SharedFixtures.RepositoryRoot, "examples", name);
        string installed = Path.Combine(directory, "node_modules", package, "package.json");
        if (!File.Exists(installed))
        {
            Assert.Fail($"'{installed}' does not exist: install the example's packages with `npm ci` in '{directory}' (./run-tests.sh does).");
        }
        return directory;
    }

    /// <summary>Runs <c>node <paramref name="script"/> <paramref name="arguments"/></c> in <paramref name="directory"/>.</summary>
    public static ChildProcess.Result RunNode(string directory, string script, IEnumerable<string> arguments) =>
        ChildProcess.Run("node", [script, .. arguments], Timeout, directory);
}
