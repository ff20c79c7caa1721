using System.Runtime.InteropServices;
using Rwkv.Onnx.Cli.Output;

namespace Rwkv.Onnx.Tests.Fixtures;

/// <summary>
/// Named pipes (FIFOs) for tests of outputs that must not be regular files: a stand-in for <c>/dev/null</c> that a broken
/// build could replace without harming the machine.
/// </summary>
internal static partial class NamedPipe
{
    /// <summary>Creates a FIFO at <paramref name="path"/> (Linux and macOS).</summary>
    /// <exception cref="IOException">mkfifo failed.</exception>
    public static string Create(string path)
    {
        if (MakeFifo(path, Convert.ToUInt32("644", 8)) != 0)
        {
            throw new IOException($"mkfifo '{path}' failed with errno {Marshal.GetLastPInvokeError()}.");
        }
        return path;
    }

    /// <summary>Whether something that is not a regular file (the FIFO) is still at <paramref name="path"/>.</summary>
    public static bool IsStillThere(string path) => File.Exists(path) && !FileKind.IsRegularFile(path);

    [LibraryImport("libc", EntryPoint = "mkfifo", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int MakeFifo(string path, uint mode);
}
