using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;

namespace Rwkv.Onnx.Cli.Bench;

/// <summary>Describes this machine: CPU model (from /proc/cpuinfo on Linux), cores, OS, .NET and ONNX Runtime versions.</summary>
internal static class MachineProbe
{
    public static BenchMachine Describe(long bandwidthBytesPerS, long bufferBytes) => new(
        CpuModel(), Environment.ProcessorCount, RuntimeInformation.OSDescription, RuntimeInformation.FrameworkDescription,
        OrtEnv.Instance().GetVersionString(), bandwidthBytesPerS, bufferBytes);

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

    // A "kB" line of /proc/self/status (Linux), in bytes; null elsewhere.
    private static long? StatusBytes(string key)
    {
        const string StatusPath = "/proc/self/status";
        if (!File.Exists(StatusPath))
        {
            return null;
        }
        foreach (string line in File.ReadLines(StatusPath))
        {
            if (line.StartsWith(key, StringComparison.Ordinal))
            {
                string[] parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                return long.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;
            }
        }
        return null;
    }
}
