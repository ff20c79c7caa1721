using System.Globalization;
using Rwkv.Onnx.Export;
using Rwkv.Onnx.Export.RandomCheckpoints;

namespace Rwkv.Onnx.Tests.Runtime;

/// <summary>
/// What the memory tests share: this process's memory counters from the kernel (Linux, <c>/proc/self/status</c>), a
/// settled managed heap before a reading, and the random RWKV-7 model they load (4 layers of the 0.1B width: a weights
/// file large enough for a second copy to stand out from the runtime's own allocations).
/// </summary>
internal static class ProcessMemory
{
    /// <summary>The <c>/proc/self/status</c> field <paramref name="field"/> (e.g. <c>VmRSS:</c>), in bytes.</summary>
    public static long StatusBytes(string field)
    {
        string line = File.ReadLines("/proc/self/status").First(l => l.StartsWith(field, StringComparison.Ordinal));
        return long.Parse(line[field.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
    }

    /// <summary>Collects the managed heap, so that earlier garbage does not count in the next reading.</summary>
    public static void SettleManagedHeap()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
    }

    /// <summary>Exports the random RWKV-7 model with <paramref name="options"/> to <c>model</c> under <paramref name="directory"/>; returns its path.</summary>
    public static string ExportRandomModel(string directory, ExportOptions options)
    {
        string checkpoint = Path.Combine(directory, "random-v7.bin");
        RandomCheckpoint.WriteRwkv7(checkpoint, layers: 4, embd: 768, headSize: 64, vocab: 1024, ffn: 3072,
            loraW: 32, loraA: 32, loraV: 16, loraG: 64, seed: 17);
        string model = Path.Combine(directory, "model");
        RwkvExporter.Export(checkpoint, model, options);
        File.Delete(checkpoint);
        return model;
    }
}
