using System.Reflection;
using System.Runtime.CompilerServices;
using System.Xml.Linq;
using Rwkv.Onnx.Export;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Build;

/// <summary>
/// The shipped projects depend on each other only through public API, and the runtime on ONNX Runtime, the
/// tokenizers and the BCL alone: checked in the project files, in the built assemblies, and in README's diagram, which is
/// generated here from the project files.
/// </summary>
[TestFixture]
public sealed class DependencyGraphTests
{
    private const string TestAssembly = "Rwkv.Onnx.Tests";

    /// <summary>The shipped projects, by path under the repository root, runtime first.</summary>
    private static readonly string[] s_shippedProjects =
    [
        Path.Combine("Rwkv.Onnx", "Rwkv.Onnx.csproj"),
        Path.Combine("Rwkv.Onnx.Export", "Rwkv.Onnx.Export.csproj"),
        Path.Combine("Rwkv.Onnx.AI", "Rwkv.Onnx.AI.csproj"),
        Path.Combine("Rwkv.Onnx.Server", "Rwkv.Onnx.Server.csproj"),
        Path.Combine("tools", "Rwkv.Onnx.Cli", "Rwkv.Onnx.Cli.csproj"),
    ];

    private static readonly Assembly[] s_shippedAssemblies =
    [
        typeof(RwkvModel).Assembly,
        typeof(RwkvExporter).Assembly,
        typeof(Rwkv.Onnx.AI.RwkvChatClient).Assembly,
        typeof(Rwkv.Onnx.Server.RwkvServer).Assembly,
        typeof(Rwkv.Onnx.Cli.Cli).Assembly,
    ];

    [Test]
    public void Runtime_ReferencesOnlyOnnxRuntimeTokenizersAndTheBcl()
    {
        string[] references = [.. typeof(RwkvModel).Assembly.GetReferencedAssemblies().Select(a => a.Name!)]; // loaded assemblies have names
        XDocument project = XDocument.Load(Path.Combine(SharedFixtures.RepositoryRoot, s_shippedProjects[0]));

        Assert.Multiple(() =>
        {
            Assert.That(references.Where(name => !IsAllowedRuntimeReference(name)), Is.Empty,
                "Rwkv.Onnx may reference ONNX Runtime, Microsoft.ML.Tokenizers and the BCL only");
            Assert.That(Items(project, "PackageReference").Select(i => i.Include).Where(name => !IsAllowedRuntimeReference(name)), Is.Empty,
                "Rwkv.Onnx's package references");
            Assert.That(Items(project, "ProjectReference"), Is.Empty, "Rwkv.Onnx references no other project");
            Assert.That(Items(project, "Protobuf"), Is.Empty, "Rwkv.Onnx compiles no protobuf schema");
        });
    }

    [Test]
    public void ShippedProjects_GrantInternalsToTheTestsOnly()
    {
        Assert.Multiple(() =>
        {
            foreach (string path in s_shippedProjects)
            {
                XDocument project = XDocument.Load(Path.Combine(SharedFixtures.RepositoryRoot, path));
                Assert.That(Items(project, "InternalsVisibleTo").Select(i => i.Include), Is.EqualTo(new[] { TestAssembly }), path);
            }
            foreach (Assembly assembly in s_shippedAssemblies)
            {
                Assert.That(assembly.GetCustomAttributes<InternalsVisibleToAttribute>().Select(a => a.AssemblyName), Is.EqualTo(new[] { TestAssembly }),
                    assembly.GetName().Name);
            }
        });
    }

    [Test]
    public void Readme_DependencyGraph_IsTheOneTheProjectFilesGive()
    {
        string readme = File.ReadAllText(Path.Combine(SharedFixtures.RepositoryRoot, "README.md")).ReplaceLineEndings("\n");
        string expected = Diagram();

        Assert.That(readme, Does.Contain(expected), $"README's dependency graph is stale; the project files give:\n{expected}");
    }

    // ONNX Runtime's managed API and whichever native flavour the build picks, the tokenizers, and System.* (the BCL and
    // System.Numerics.Tensors, the BCL's tensor primitives shipped as a package).
    private static bool IsAllowedRuntimeReference(string name) =>
        name is "Microsoft.ML.OnnxRuntime" or "Microsoft.ML.OnnxRuntime.Managed" or "Microsoft.ML.OnnxRuntime.Gpu"
            or "Microsoft.ML.OnnxRuntime.DirectML" or "Microsoft.ML.Tokenizers" or "netstandard" or "mscorlib"
        || name.StartsWith("System.", StringComparison.Ordinal) || name == "System";

    /// <summary>
    /// README's diagram: one line per shipped project with what it references, project references first, then packages
    /// in project-file order; a package chosen by a condition is shown as the alternatives, a build-only one marked so.
    /// </summary>
    private static string Diagram()
    {
        var lines = new List<(string Name, string References)>();
        foreach (string path in s_shippedProjects)
        {
            XDocument project = XDocument.Load(Path.Combine(SharedFixtures.RepositoryRoot, path));
            var references = new List<string>();
            references.AddRange(Items(project, "ProjectReference").Select(i => ProjectName(Path.GetFullPath(Path.Combine(SharedFixtures.RepositoryRoot, Path.GetDirectoryName(path)!, i.Include)))));
            List<(string Include, XElement Element)> packages = Items(project, "PackageReference");
            references.AddRange(packages.Where(p => p.Element.Attribute("Condition") is null)
                .Select(p => p.Element.Attribute("PrivateAssets")?.Value == "all" ? $"{p.Include} (build only)" : p.Include));
            string[] conditional = [.. packages.Where(p => p.Element.Attribute("Condition") is not null).Select(p => p.Include)];
            if (conditional.Length > 0)
            {
                references.Add($"one of {string.Join(" | ", conditional)} (native, -p:OnnxRuntimeFlavor)");
            }
            lines.Add((ProjectName(Path.Combine(SharedFixtures.RepositoryRoot, path)), string.Join(", ", references)));
        }
        int width = lines.Max(l => l.Name.Length);
        return "```text\n" + string.Concat(lines.Select(l => $"{l.Name.PadRight(width)} -> {l.References}\n")) + "```\n";
    }

    private static string ProjectName(string projectPath) =>
        XDocument.Load(projectPath).Descendants("AssemblyName").FirstOrDefault()?.Value ?? Path.GetFileNameWithoutExtension(projectPath);

    private static List<(string Include, XElement Element)> Items(XDocument project, string item) =>
        [.. project.Descendants(item).Select(e => (e.Attribute("Include")?.Value ?? "", e))];
}
