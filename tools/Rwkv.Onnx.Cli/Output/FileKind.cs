using System.Runtime.InteropServices;

namespace Rwkv.Onnx.Cli.Output;

/// <summary>
/// Whether an existing path is a regular file. .NET reports a device, pipe or socket as an ordinary file, and renaming
/// a new file over <c>/dev/null</c> would replace the device node; so on Linux the file type comes from <c>statx</c>
/// (whose struct layout, unlike <c>stat</c>'s, is the same on every architecture).
/// </summary>
internal static class FileKind
{
    private const int AtCurrentDirectory = -100;
    private const uint StatxType = 0x1;
    private const int StatxModeOffset = 28;    // after stx_mask, stx_blksize, stx_attributes, stx_nlink, stx_uid, stx_gid
    private const int FileTypeMask = 0xF000;   // S_IFMT
    private const int RegularFile = 0x8000;    // S_IFREG

    /// <summary>
    /// True when <paramref name="path"/> (following symbolic links) is a regular file; false for a directory, device,
    /// pipe or socket. Outside Linux, anything that is neither a directory nor flagged as a device counts as regular.
    /// </summary>
    public static bool IsRegularFile(string path)
    {
        if (OperatingSystem.IsLinux())
        {
            byte[] statx = new byte[256];
            if (Statx(AtCurrentDirectory, path, 0, StatxType, statx) == 0)
            {
                return (BitConverter.ToUInt16(statx, StatxModeOffset) & FileTypeMask) == RegularFile;
            }
        }
        return (File.GetAttributes(path) & (FileAttributes.Directory | FileAttributes.Device)) == 0;
    }

    // A DllImport rather than a LibraryImport: the generated marshalling needs unsafe code, which this tool does not enable.
    [DllImport("libc", EntryPoint = "statx")]
    private static extern int Statx(int directoryFd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, [Out] byte[] buffer);
}
