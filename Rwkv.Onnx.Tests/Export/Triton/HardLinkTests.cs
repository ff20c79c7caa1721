using Rwkv.Onnx.Export.Triton;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Export.Triton;

/// <summary><see cref="HardLink"/>: a second name on the same file system, a copy across file systems.</summary>
public sealed class HardLinkTests
{
    private readonly ScratchRoot _scratch = new("rwkv-hardlink-");

    [SetUp]
    public void Create() => _scratch.Create();

    [TearDown]
    public void Delete() => _scratch.Delete();

    [Test]
    public void CreateOrCopy_SameFileSystem_Links()
    {
        Assume.That(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS(), "the link is observed through a shared inode");
        string source = Path.Combine(_scratch.Path, "weights.bin"), linked = Path.Combine(_scratch.Path, "linked.bin");
        File.WriteAllBytes(source, [1, 2, 3]);
        Assert.That(HardLink.CreateOrCopy(source, linked), Is.True);
        File.WriteAllBytes(source, [4, 5, 6]); // rewritten in place: a link sees it, a copy would not
        Assert.That(File.ReadAllBytes(linked), Is.EqualTo(new byte[] { 4, 5, 6 }));
    }

    [Test]
    public void CreateOrCopy_AcrossFileSystems_Copies()
    {
        // /dev/shm is a tmpfs on Linux; link(2) across devices fails with EXDEV.
        Assume.That(OperatingSystem.IsLinux() && Directory.Exists("/dev/shm"), "needs a second file system");
        Assume.That(new DriveInfo("/dev/shm").DriveFormat, Is.Not.EqualTo(new DriveInfo(_scratch.Path).DriveFormat));
        string source = Path.Combine(_scratch.Path, "weights.bin");
        string copied = Path.Combine("/dev/shm", $"rwkv-hardlink-{Guid.NewGuid():N}.bin");
        File.WriteAllBytes(source, [1, 2, 3]);
        try
        {
            Assert.That(HardLink.CreateOrCopy(source, copied), Is.False);
            File.WriteAllBytes(source, [4, 5, 6]);
            Assert.That(File.ReadAllBytes(copied), Is.EqualTo(new byte[] { 1, 2, 3 }));
        }
        finally
        {
            File.Delete(copied);
        }
    }
}
