using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;

namespace Rwkv.Onnx.Cli.Bench;

/// <summary>
/// Describes this machine: CPU model (from /proc/cpuinfo on Linux), cores, last-level cache (Linux sysfs), OS, .NET and
/// ONNX Runtime versions.
/// </summary>
internal static class MachineProbe
{
    /// <summary>Where Linux lists CPU 0's caches; <see cref="Describe"/> reads the last-level cache from it.</summary>
    public const string CpuCacheDirectory = "/sys/devices/system/cpu/cpu0/cache";

    public static BenchMachine Describe(long bandwidthBytesPerS, long bufferBytes) => new(
        CpuModel(), Environment.ProcessorCount, RuntimeInformation.OSDescription, RuntimeInformation.FrameworkDescription,
        OrtEnv.Instance().GetVersionString(), bandwidthBytesPerS, bufferBytes, LastLevelCacheBytes(CpuCacheDirectory));

    /// <summary>
    /// The size of the highest-level data or unified cache listed under <paramref name="cacheDirectory"/> (sysfs layout:
    /// <c>index*/level</c>, <c>index*/type</c>, <c>index*/size</c> such as <c>266240K</c>); null where there is none.
    /// A model whose step weights fit in it is not bound by memory bandwidth, which the roofline assumes.
    /// </summary>
    public static long? LastLevelCacheBytes(string cacheDirectory)
    {
        if (!Directory.Exists(cacheDirectory))
        {
            return null;
        }
        (int Level, long Bytes)? best = null;
        foreach (string index in Directory.EnumerateDirectories(cacheDirectory, "index*"))
        {
            if (ReadTrimmed(index, "type") is not ("Data" or "Unified")
                || !int.TryParse(ReadTrimmed(index, "level"), NumberStyles.None, CultureInfo.InvariantCulture, out int level)
                || ParseSize(ReadTrimmed(index, "size")) is not long bytes)
            {
                continue;
            }
            if (best is null || level > best.Value.Level)
            {
                best = (level, bytes);
            }
        }
        return best?.Bytes;
    }

    private static string? ReadTrimmed(string directory, string file)
    {
        string path = Path.Combine(directory, file);
        return File.Exists(path) ? File.ReadAllText(path).Trim() : null;
    }

    // "48K", "2048K", "260M", "1G" or plain bytes.
    private static long? ParseSize(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return null;
        }
        long unit = char.ToUpperInvariant(text[^1]) switch { 'K' => 1L << 10, 'M' => 1L << 20, 'G' => 1L << 30, _ => 1 };
        string digits = unit == 1 ? text : text[..^1];
        return long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out long value) ? value * unit : null;
    }

    private static string CpuModel()
    {
        const string CpuInfoPath = "/proc/cpuinfo";
        if (File.Exists(CpuInfoPath))
        {
            foreach (string line in File.ReadLines(CpuInfoPath))
            {
                if (line.StartsWith("model name", StringComparison.Ordinal) && line.IndexOf(':', StringComparison.Ordinal) is int colon and >= 0)
                {
                    return line[(colon + 1)..].Trim();
                }
            }
        }
        return $"{RuntimeInformation.ProcessArchitecture} (model unknown)";
    }

    /// <summary>Resets the kernel's peak-RSS counter (Linux <c>/proc/self/clear_refs</c>, value 5); false where unsupported.</summary>
    public static bool ResetPeakRss()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>The process's peak resident set in bytes: VmHWM from /proc/self/status, else <see cref="System.Diagnostics.Process.PeakWorkingSet64"/>.</summary>
    public static long PeakRssBytes()
    {
        using var process = System.Diagnostics.Process.GetCurrentProcess();
        return StatusBytes("VmHWM:") ?? process.PeakWorkingSet64;
    }

    /// <summary>
    /// The process's private memory now, in bytes: RssAnon from /proc/self/status (resident memory no other process can
    /// share; mapped weight-file pages excluded), else <see cref="System.Diagnostics.Process.PrivateMemorySize64"/>.
    /// </summary>
    public static long PrivateBytes()
    {
        using var process = System.Diagnostics.Process.GetCurrentProcess();
        return StatusBytes("RssAnon:") ?? process.PrivateMemorySize64;
    }

    /// <summary>
    /// A "kB" line of <paramref name="statusPath"/> (Linux's <c>/proc/self/status</c> layout), in bytes; null where the
    /// file or line is missing. The kernel separates key and value by a tab and pads the value with spaces to 8 digits,
    /// so from 10 GB on (<c>VmHWM:\t16066028 kB</c>) only the tab separates them.
    /// </summary>
    internal static long? StatusBytes(string key, string statusPath = "/proc/self/status")
    {
        if (!File.Exists(statusPath))
        {
            return null;
        }
        foreach (string line in File.ReadLines(statusPath))
        {
            if (line.StartsWith(key, StringComparison.Ordinal))
            {
                string[] parts = line[key.Length..].Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
                return parts.Length > 0 && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out long kilobytes)
                    ? kilobytes * 1024
                    : null;
            }
        }
        return null;
    }
}
