using System.Globalization;
using Rwkv.Onnx.Exceptions;

namespace Rwkv.Onnx;

/// <summary>
/// How much memory this process can still allocate, and the check that refuses a run whose
/// <see cref="RwkvMemoryEstimate"/> exceeds it. On Linux: <c>MemAvailable</c> from <c>/proc/meminfo</c>, lowered to the
/// room left under the process's cgroup limit when that is less (v2 <c>memory.max</c>, v1 <c>memory.limit_in_bytes</c>,
/// at its own cgroup and every ancestor). Elsewhere: the GC's total available memory less the memory load. Public so that
/// a tool can check its own buffers, or a run it sizes from a <see cref="RwkvMemoryEstimate"/>, by the runtime's rule.
/// </summary>
public static class AvailableMemory
{
    /// <summary>
    /// Runs estimated below this are not checked: reading the operating system's figures (~0.2 ms for
    /// <c>/proc/meminfo</c>) would cost more than such an allocation risks.
    /// </summary>
    public const long UncheckedBytes = 16L << 20;

    private const string MemInfoPath = "/proc/meminfo";
    private const string SelfCgroupPath = "/proc/self/cgroup";
    private const string CgroupRoot = "/sys/fs/cgroup";

    // Per async flow, so a test's simulated figure reaches the code it calls (also across awaits) and no other test.
    private static readonly AsyncLocal<Reading?> s_simulated = new();

    /// <summary>Bytes the process can still allocate, and where that figure comes from (for messages).</summary>
    /// <param name="Bytes">Bytes the process can still allocate.</param>
    /// <param name="Source">Where the figure comes from, e.g. <c>MemAvailable</c> or a cgroup's <c>memory.max</c>.</param>
    public readonly record struct Reading(long Bytes, string Source);

    /// <summary>The memory the process can allocate now, or the figure set by <see cref="Simulate"/>.</summary>
    public static Reading Read() =>
        s_simulated.Value ?? (OperatingSystem.IsLinux() ? ReadLinux(MemInfoPath, SelfCgroupPath, CgroupRoot) ?? ReadGc() : ReadGc());

    /// <summary>Makes <see cref="Read"/> return <paramref name="bytes"/> in this async flow until the result is disposed (tests).</summary>
    internal static IDisposable Simulate(long bytes)
    {
        Reading? previous = s_simulated.Value;
        s_simulated.Value = new Reading(bytes, "simulated");
        return new Restore(previous);
    }

    /// <summary>
    /// Throws when <paramref name="estimate"/> is at least <see cref="UncheckedBytes"/> and more than <see cref="Read"/>.
    /// </summary>
    /// <param name="estimate">What the run needs.</param>
    /// <param name="run">The run, as the subject of a sentence, e.g. <c>A state of 4096 sequences</c>.</param>
    /// <exception cref="MemoryLimitExceededException">The estimate exceeds the available memory.</exception>
    public static void Require(RwkvMemoryEstimate estimate, string run)
    {
        long needed = estimate.TotalBytes;
        if (needed < UncheckedBytes)
        {
            return;
        }
        Reading available = Read();
        if (needed > available.Bytes)
        {
            throw new MemoryLimitExceededException(needed, available.Bytes,
                $"{run} needs an estimated {FormatBytes(needed)} of memory ({estimate.Describe()}); " +
                $"{FormatBytes(available.Bytes)} is available ({available.Source}).");
        }
    }

    /// <summary>Bytes in binary units with one decimal, e.g. <c>1.5 GiB</c>.</summary>
    public static string FormatBytes(long bytes)
    {
        string[] units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
        double value = bytes;
        int unit = 0;
        while (Math.Abs(value) >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }
        return unit == 0
            ? string.Create(CultureInfo.InvariantCulture, $"{bytes} bytes")
            : string.Create(CultureInfo.InvariantCulture, $"{value:F1} {units[unit]}");
    }

    /// <summary>
    /// MemAvailable of <paramref name="memInfoPath"/>, lowered to the room under the cgroup limits found through
    /// <paramref name="selfCgroupPath"/> (the <c>/proc/self/cgroup</c> format) below <paramref name="cgroupRoot"/>;
    /// null when MemAvailable is missing (kernels before 3.14).
    /// </summary>
    internal static Reading? ReadLinux(string memInfoPath, string selfCgroupPath, string cgroupRoot)
    {
        long? memAvailable = null;
        if (File.Exists(memInfoPath))
        {
            foreach (string line in File.ReadLines(memInfoPath))
            {
                if (line.StartsWith("MemAvailable:", StringComparison.Ordinal))
                {
                    memAvailable = ParseKilobytes(line);
                    break;
                }
            }
        }
        if (memAvailable is not long bytes)
        {
            return null;
        }
        var best = new Reading(bytes, $"MemAvailable in {memInfoPath}");
        foreach ((string directory, string limitFile, string usageFile, string inactiveKey) in CgroupDirectories(selfCgroupPath, cgroupRoot))
        {
            if (CgroupRoom(directory, limitFile, usageFile, inactiveKey) is long room && room < best.Bytes)
            {
                best = new Reading(room, $"the room left under the cgroup limit {Path.Combine(directory, limitFile)}");
            }
        }
        return best;
    }

    // The process's memory cgroups, leaf to root: v2 ("0::/path", files memory.max / memory.current) and v1 (a line
    // whose controllers include "memory", under <root>/memory). Inside a cgroup namespace the listed path may not exist
    // below the mount; then the mount's root is the process's own cgroup.
    private static IEnumerable<(string Directory, string LimitFile, string UsageFile, string InactiveKey)> CgroupDirectories(string selfCgroupPath, string cgroupRoot)
    {
        if (!File.Exists(selfCgroupPath))
        {
            yield break;
        }
        foreach (string line in File.ReadLines(selfCgroupPath))
        {
            string[] fields = line.Split(':', 3);
            if (fields.Length != 3)
            {
                continue;
            }
            (string mount, string limit, string usage, string inactive) = fields[1] switch
            {
                "" when fields[0] == "0" => (cgroupRoot, "memory.max", "memory.current", "inactive_file"),
                var controllers when controllers.Split(',').Contains("memory") => (Path.Combine(cgroupRoot, "memory"), "memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file"),
                _ => ("", "", "", ""),
            };
            if (mount.Length == 0)
            {
                continue;
            }
            string leaf = Path.Combine(mount, fields[2].TrimStart('/'));
            string directory = Directory.Exists(leaf) ? leaf : mount;
            string fullMount = Path.GetFullPath(mount);
            for (string? d = Path.GetFullPath(directory); d is not null && d.StartsWith(fullMount, StringComparison.Ordinal); d = Path.GetDirectoryName(d))
            {
                yield return (d, limit, usage, inactive);
            }
        }
    }

    // limit − (usage − inactive file pages), as the .NET GC reads a cgroup: page cache the kernel can drop does not count.
    // Null without a limit ("max", or v1's near-2^63 "unlimited").
    private static long? CgroupRoom(string directory, string limitFile, string usageFile, string inactiveKey)
    {
        long? limit = ReadNumber(Path.Combine(directory, limitFile));
        long? usage = ReadNumber(Path.Combine(directory, usageFile));
        if (limit is not long l || l >= long.MaxValue / 2 || usage is not long u)
        {
            return null;
        }
        long inactive = 0;
        string stat = Path.Combine(directory, "memory.stat");
        if (File.Exists(stat))
        {
            foreach (string line in File.ReadLines(stat))
            {
                string[] parts = line.Split(' ');
                if (parts.Length == 2 && parts[0] == inactiveKey && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out long value))
                {
                    inactive = value;
                    break;
                }
            }
        }
        return Math.Max(0, l - Math.Max(0, u - inactive));
    }

    private static long? ReadNumber(string path) =>
        File.Exists(path) && long.TryParse(File.ReadAllText(path).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out long value)
            ? value
            : null;

    // "MemAvailable:   21968148 kB"
    private static long? ParseKilobytes(string line)
    {
        string[] parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return parts.Length >= 2 && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out long kilobytes)
            ? kilobytes * 1024
            : null;
    }

    private static Reading ReadGc()
    {
        GCMemoryInfo info = GC.GetGCMemoryInfo();
        long total = info.TotalAvailableMemoryBytes;
        return new Reading(Math.Max(0, total - info.MemoryLoadBytes), "the total available memory the .NET GC reports, less the memory load");
    }

    private sealed class Restore(Reading? previous) : IDisposable
    {
        public void Dispose() => s_simulated.Value = previous;
    }
}
