using Rwkv.Onnx.Cli.Bench;

namespace Rwkv.Onnx.Tests.Cli;

/// <summary>
/// The last-level cache bench reports, and the note under its table when a model's step weights fit in it (the
/// roofline divides by DRAM bandwidth, which such a model does not depend on); and the memory figures it reads from
/// /proc/self/status.
/// </summary>
[TestFixture]
public sealed class BenchMachineCacheTests
{
    private string _root = "";

    [SetUp]
    public void CreateRoot() => _root = Directory.CreateTempSubdirectory("rwkv-bench-cache-tests-").FullName;

    [TearDown]
    public void Delete() => Directory.Delete(_root, recursive: true);

    private void Cache(string index, string level, string type, string size)
    {
        string directory = Directory.CreateDirectory(Path.Combine(_root, index)).FullName;
        File.WriteAllText(Path.Combine(directory, "level"), level + "\n");
        File.WriteAllText(Path.Combine(directory, "type"), type + "\n");
        File.WriteAllText(Path.Combine(directory, "size"), size + "\n");
    }

    [Test]
    public void LastLevelCache_IsTheHighestDataOrUnifiedLevel()
    {
        Cache("index0", "1", "Data", "48K");
        Cache("index1", "1", "Instruction", "32K");
        Cache("index2", "2", "Unified", "2048K");
        Cache("index3", "3", "Unified", "266240K");
        Cache("index4", "4", "Instruction", "1G"); // not a data cache

        Assert.That(MachineProbe.LastLevelCacheBytes(_root), Is.EqualTo(266_240L * 1024));
    }

    [TestCase("260M", 260L << 20)]
    [TestCase("1G", 1L << 30)]
    [TestCase("524288", 524_288L)]
    public void LastLevelCache_ReadsEverySizeUnit(string size, long expected)
    {
        Cache("index0", "2", "Unified", size);

        Assert.That(MachineProbe.LastLevelCacheBytes(_root), Is.EqualTo(expected));
    }

    [Test]
    public void LastLevelCache_UnreadableEntriesAreSkipped_AndNoCachesIsNull()
    {
        Cache("index0", "2", "Unified", "2048K");
        Cache("index1", "3", "Unified", "lots");
        Cache("index2", "three", "Unified", "32M");

        Assert.That(MachineProbe.LastLevelCacheBytes(_root), Is.EqualTo(2048L * 1024));
        Assert.That(MachineProbe.LastLevelCacheBytes(Path.Combine(_root, "missing")), Is.Null);
    }

    [TestCase(4L << 20, true)]
    [TestCase(1L << 20, false)]
    [TestCase(null, false)]
    public void Markdown_NotesAModelWhoseStepFitsTheCache(long? cache, bool noted)
    {
        BenchReport report = Report(stepWeightBytes: 3_000_000, cache);

        string markdown = BenchTables.Markdown([report, report]);

        string[] notes = [.. markdown.Split('\n').Where(line => line.StartsWith("Note:", StringComparison.Ordinal))];
        Assert.That(notes, Has.Length.EqualTo(noted ? 1 : 0)); // once, though the report is merged twice
        if (noted)
        {
            Assert.That(notes[0], Does.Contain("tiny (RWKV-7 L12 D64)").And.Contain("3.0 MB").And.Contain("4 MiB last-level cache of Test CPU"));
        }
    }

    // The kernel pads the value to 8 digits after the tab; a peak of 10 GB or more fills them (bench then failed with a
    // FormatException after all its measurements).
    [TestCase("VmHWM:\t 1401776 kB", 1_401_776L * 1024)]
    [TestCase("VmHWM:\t16066028 kB", 16_066_028L * 1024)]
    [TestCase("VmHWM:\t123456789 kB", 123_456_789L * 1024)]
    public void StatusBytes_ReadsValuesOfEveryWidth(string line, long expected)
    {
        string status = Path.Combine(_root, "status");
        File.WriteAllText(status, $"Name:\tdotnet\nVmPeak:\t20000000 kB\n{line}\nRssAnon:\t  123456 kB\n");

        Assert.That(MachineProbe.StatusBytes("VmHWM:", status), Is.EqualTo(expected));
        Assert.That(MachineProbe.StatusBytes("RssAnon:", status), Is.EqualTo(123_456L * 1024));
        Assert.That(MachineProbe.StatusBytes("VmSwap:", status), Is.Null);
    }

    private static BenchReport Report(long stepWeightBytes, long? cache) => new()
    {
        CreatedUtc = new DateTime(2026, 11, 27, 0, 0, 0, DateTimeKind.Utc),
        Model = new BenchModel("tiny", "7", 12, 64, 256, 829_888, "fp32", stepWeightBytes, 1_600_000),
        Machine = new BenchMachine("Test CPU", 2, "Linux", ".NET 10", "1.31.1", 30_000_000_000, 1L << 30, cache),
        Settings = new BenchSettings(16, 8, 1, 1, 256),
        Results =
        [
            new BenchResult
            {
                Provider = "cpu", Dtype = "fp32", Batch = 1, Threads = 2, LoadMs = 10, PrefillTokensPerS = 1000,
                PrefillTokensPerSPerSequence = 1000, DecodeTokensPerS = 500, DecodeTokensPerSPerSequence = 500, TtftMs = 16,
                LatencyMs = new LatencyPercentiles(2, 2.5, 3), PeakRssBytes = 1L << 27, PrivateBytes = 1L << 26,
                BandwidthBytesPerS = 30_000_000_000, DecodeRooflineFraction = 0.05, PrefillGflops = 1.6,
            },
        ],
    };
}
