using Rwkv.Onnx.Exceptions;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Runtime;

/// <summary>Linux's figures as <see cref="AvailableMemory"/> reads them, from files laid out like /proc and /sys/fs/cgroup.</summary>
[TestFixture]
public sealed class AvailableMemoryTests
{
    private const long GiB = 1L << 30;

    private readonly ScratchRoot _root = new("rwkv-available-memory-tests-");
    private string _dir = "";

    [OneTimeSetUp]
    public void CreateRoot() => _root.Create();

    [OneTimeTearDown]
    public void DeleteRoot() => _root.Delete();

    [SetUp]
    public void CreateDirectory() => _dir = _root.CreateDirectory();

    private string MemInfo(long availableKb)
    {
        string path = Path.Combine(_dir, "meminfo");
        File.WriteAllText(path, $"MemTotal:       24683748 kB\nMemFree:         1000000 kB\nMemAvailable:   {availableKb,10} kB\nBuffers:          123456 kB\n");
        return path;
    }

    private string SelfCgroup(string text)
    {
        string path = Path.Combine(_dir, "self-cgroup");
        File.WriteAllText(path, text);
        return path;
    }

    private string Cgroup(string relative, params (string File, string Text)[] files)
    {
        string directory = Path.Combine(_dir, "cgroup", relative);
        Directory.CreateDirectory(directory);
        foreach ((string file, string text) in files)
        {
            File.WriteAllText(Path.Combine(directory, file), text);
        }
        return directory;
    }

    [Test]
    public void ReadLinux_NoCgroupLimit_IsMemAvailable()
    {
        Cgroup("app", ("memory.max", "max\n"), ("memory.current", "123456789\n"));

        AvailableMemory.Reading? reading = AvailableMemory.ReadLinux(MemInfo(21_968_148), SelfCgroup("0::/app\n"), Path.Combine(_dir, "cgroup"));

        Assert.That(reading, Is.Not.Null);
        Assert.That(reading!.Value.Bytes, Is.EqualTo(21_968_148L * 1024));
        Assert.That(reading.Value.Source, Does.Contain("MemAvailable"));
    }

    [Test]
    public void ReadLinux_CgroupV2LimitBelowMemAvailable_IsTheRoomUnderTheLimit()
    {
        // 4 GiB limit, 3 GiB charged of which 0.5 GiB is inactive page cache the kernel may drop: 1.5 GiB of room.
        string app = Cgroup("app", ("memory.max", $"{4 * GiB}\n"), ("memory.current", $"{3 * GiB}\n"), ("memory.stat", $"anon 1\ninactive_file {GiB / 2}\nactive_file 7\n"));

        AvailableMemory.Reading? reading = AvailableMemory.ReadLinux(MemInfo(20L << 20), SelfCgroup("0::/app\n"), Path.Combine(_dir, "cgroup"));

        Assert.That(reading!.Value.Bytes, Is.EqualTo(GiB + GiB / 2));
        Assert.That(reading.Value.Source, Does.Contain(Path.Combine(app, "memory.max")));
    }

    [Test]
    public void ReadLinux_AncestorCgroupLimitIsLower_TheAncestorLimits()
    {
        Cgroup("", ("memory.max", "max\n"));
        Cgroup("parent", ("memory.max", $"{2 * GiB}\n"), ("memory.current", $"{GiB}\n"));
        Cgroup("parent/child", ("memory.max", $"{8 * GiB}\n"), ("memory.current", $"{GiB}\n"));

        AvailableMemory.Reading? reading = AvailableMemory.ReadLinux(MemInfo(20L << 20), SelfCgroup("0::/parent/child\n"), Path.Combine(_dir, "cgroup"));

        Assert.That(reading!.Value.Bytes, Is.EqualTo(GiB));
    }

    [Test]
    public void ReadLinux_CgroupV1Limit_IsTheRoomUnderTheLimit()
    {
        Cgroup("memory/job", ("memory.limit_in_bytes", $"{2 * GiB}\n"), ("memory.usage_in_bytes", $"{GiB / 2}\n"), ("memory.stat", "total_inactive_file 0\n"));

        AvailableMemory.Reading? reading = AvailableMemory.ReadLinux(MemInfo(20L << 20), SelfCgroup("4:memory:/job\n1:cpu:/\n0::/\n"), Path.Combine(_dir, "cgroup"));

        Assert.That(reading!.Value.Bytes, Is.EqualTo(GiB + GiB / 2));
    }

    [Test]
    public void ReadLinux_CgroupV1Unlimited_IsMemAvailable()
    {
        Cgroup("memory", ("memory.limit_in_bytes", "9223372036854771712\n"), ("memory.usage_in_bytes", $"{GiB}\n"));

        AvailableMemory.Reading? reading = AvailableMemory.ReadLinux(MemInfo(1_000_000), SelfCgroup("4:memory:/not/visible/in/this/namespace\n"), Path.Combine(_dir, "cgroup"));

        Assert.That(reading!.Value.Bytes, Is.EqualTo(1_000_000L * 1024));
    }

    [Test]
    public void ReadLinux_NoMemAvailableLine_IsNull()
    {
        string path = Path.Combine(_dir, "old-meminfo");
        File.WriteAllText(path, "MemTotal: 1000 kB\nMemFree: 500 kB\n");

        Assert.That(AvailableMemory.ReadLinux(path, SelfCgroup(""), Path.Combine(_dir, "cgroup")), Is.Null);
    }

    [Test]
    public void Read_ThisMachine_IsPositiveAndAtMostThePhysicalMemory()
    {
        AvailableMemory.Reading reading = AvailableMemory.Read();

        Assert.That(reading.Bytes, Is.InRange(1L, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes));
    }

    [Test]
    public void Simulate_ReplacesTheReadingUntilDisposed()
    {
        long real = AvailableMemory.Read().Bytes;
        using (AvailableMemory.Simulate(12345))
        {
            Assert.That(AvailableMemory.Read(), Is.EqualTo(new AvailableMemory.Reading(12345, "simulated")));
        }
        Assert.That(AvailableMemory.Read().Source, Is.Not.EqualTo("simulated"));
        Assert.That(AvailableMemory.Read().Bytes, Is.InRange(real / 2, real * 2));
    }

    [Test]
    public void Require_EstimateAboveAvailable_ThrowsWithBothFigures()
    {
        var estimate = new RwkvMemoryEstimate { StateBytes = 3 * GiB, BufferBytes = GiB };
        using IDisposable _ = AvailableMemory.Simulate(2 * GiB);

        var e = Assert.Throws<MemoryLimitExceededException>(() => AvailableMemory.Require(estimate, "A test run"));

        Assert.That(e!.EstimatedBytes, Is.EqualTo(4 * GiB));
        Assert.That(e.AvailableBytes, Is.EqualTo(2 * GiB));
        Assert.That(e.Message, Is.EqualTo("A test run needs an estimated 4.0 GiB of memory (state 3.0 GiB, logits and tokens 1.0 GiB); 2.0 GiB is available (simulated)."));
    }

    [Test]
    public void Require_SmallEstimate_IsNotChecked()
    {
        var estimate = new RwkvMemoryEstimate { StateBytes = AvailableMemory.UncheckedBytes - 1 };
        using IDisposable _ = AvailableMemory.Simulate(0);

        Assert.DoesNotThrow(() => AvailableMemory.Require(estimate, "A small run"));
    }
}
