using System.Buffers.Binary;
using System.IO.Compression;
using System.Runtime.InteropServices;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Build;

/// <summary>
/// The <c>rwkv-onnx</c> tool packs as a pointer package plus one package per platform that carries only that
/// platform's native libraries, installs from those packages, and runs: the README's pack and install commands,
/// for this machine's platform only (packing all four takes minutes).
/// </summary>
[TestFixture]
[Category(TestCategories.Packaging)]
public sealed class ToolPackageTests
{
    private const long MaxPackageBytes = 60L * 1024 * 1024;
    private const ushort ElfMachineX64 = 0x3E;
    private static readonly TimeSpan s_timeout = TimeSpan.FromMinutes(5);

    private static ReadOnlySpan<byte> ElfMagic => [0x7F, (byte)'E', (byte)'L', (byte)'F'];

    private readonly ScratchRoot _scratch = new("rwkv-tool-package-");

    [SetUp]
    public void SetUp() => _scratch.Create();

    [TearDown]
    public void TearDown() => _scratch.Delete();

    [Test]
    public void PackedTool_CarriesOnlyThisPlatformsNativeLibraries_InstallsAndRuns()
    {
        string rid = RuntimeInformation.RuntimeIdentifier;
        Assume.That(rid, Is.EqualTo("linux-x64"), "the native-library checks read ELF x86-64 headers");
        string packages = _scratch.CreateDirectory();
        string project = Path.Combine(SharedFixtures.RepositoryRoot, "tools", "Rwkv.Onnx.Cli", "Rwkv.Onnx.Cli.csproj");

        Run("dotnet", ["pack", project, "-c", ChildProcess.BuildConfiguration, "-o", packages, $"-p:ToolPackageRuntimeIdentifiers={rid}",
            "--disable-build-servers"]);

        string pointer = Directory.GetFiles(packages, "rwkv-onnx.1*.nupkg").Single();
        string platform = Directory.GetFiles(packages, $"rwkv-onnx.{rid}.*.nupkg").Single();
        Assert.That(new FileInfo(platform).Length, Is.LessThan(MaxPackageBytes));
        using (ZipArchive pointerZip = ZipFile.OpenRead(pointer))
        using (ZipArchive platformZip = ZipFile.OpenRead(platform))
        {
            Assert.That(pointerZip.Entries.Select(e => e.FullName), Has.Member("README.md"));
            Assert.That(platformZip.Entries.Select(e => e.FullName), Has.Member("README.md"));
            string settings = new StreamReader(pointerZip.Entries.Single(e => e.Name == "DotnetToolSettings.xml").Open()).ReadToEnd();
            Assert.That(settings, Does.Contain($"RuntimeIdentifier=\"{rid}\" Id=\"rwkv-onnx.{rid}\""));
            Assert.That(pointerZip.Entries.Where(e => e.FullName.StartsWith("tools/", StringComparison.Ordinal)).Select(e => e.Name),
                Is.EqualTo(new[] { "DotnetToolSettings.xml" }), "the pointer package carries no implementation");

            string[] natives = [.. platformZip.Entries.Select(e => e.FullName).Where(IsNativeLibrary)];
            Assert.That(natives.Select(Path.GetFileName), Is.SupersetOf(new[] { "libonnxruntime.so", "libSkiaSharp.so" }));
            Assert.That(platformZip.Entries.Select(e => e.FullName), Has.None.Contain("/runtimes/"));
            foreach (string native in natives)
            {
                Assert.That(ElfMachine(platformZip.GetEntry(native)!), Is.EqualTo(ElfMachineX64), native); // from the list above
            }
        }

        // Installed from these packages alone (no other NuGet source), the tool exports the tiny model and generates
        // exactly what the CLI built beside the tests generates.
        string config = Path.Combine(_scratch.Path, "nuget.config");
        File.WriteAllText(config, $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="local" value="{packages}" />
              </packageSources>
            </configuration>
            """);
        string toolPath = _scratch.CreateDirectory();
        Run("dotnet", ["tool", "install", "rwkv-onnx", "--tool-path", toolPath, "--configfile", config]);
        string tool = Path.Combine(toolPath, "rwkv-onnx");
        string model = Path.Combine(_scratch.Path, "model");
        Run(tool, ["export", SharedFixtures.RwkvCppModel("7v0-834K", "FP32"), "-o", model]);
        string[] generate = ["generate", model, "--prompt", "In the beginning", "--max-tokens", "16", "--temperature", "0"];
        ChildProcess.Result installed = Run(tool, generate);
        ChildProcess.Result built = Run("dotnet", [Path.Combine(AppContext.BaseDirectory, "rwkv-onnx.dll"), .. generate]);
        Assert.That(installed.StandardOutput, Is.Not.Empty.And.EqualTo(built.StandardOutput));
    }

    private ChildProcess.Result Run(string fileName, string[] arguments)
    {
        ChildProcess.Result result = ChildProcess.Run(fileName, arguments, s_timeout, workingDirectory: _scratch.Path);
        Assert.That(result.ExitCode, Is.Zero, $"{fileName} {string.Join(' ', arguments)}\n{result}");
        return result;
    }

    private static bool IsNativeLibrary(string path) =>
        path.EndsWith(".so", StringComparison.Ordinal) || path.EndsWith(".dylib", StringComparison.Ordinal) ||
        Path.GetFileName(path) is "onnxruntime.dll" or "libSkiaSharp.dll" or "libHarfBuzzSharp.dll";

    // e_machine of an ELF file (offset 18, little-endian on x86-64); 0 when the file is not ELF.
    private static ushort ElfMachine(ZipArchiveEntry entry)
    {
        using Stream stream = entry.Open();
        byte[] header = new byte[20];
        stream.ReadExactly(header);
        return header.AsSpan(0, 4).SequenceEqual(ElfMagic) ? BinaryPrimitives.ReadUInt16LittleEndian(header.AsSpan(18)) : (ushort)0;
    }
}
