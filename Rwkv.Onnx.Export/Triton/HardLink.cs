using System.Runtime.InteropServices;

namespace Rwkv.Onnx.Export.Triton;

/// <summary>
/// A second name for an existing file (a hard link: no bytes copied, gigabytes of weights take no space twice), or a
/// copy where the file system refuses one (another device, FAT, a link count limit). .NET has no hard-link API, so this
/// calls the platform's.
/// </summary>
internal static partial class HardLink
{
    /// <summary>Makes <paramref name="destination"/> a hard link to <paramref name="source"/>, or copies it.</summary>
    /// <returns>True when linked, false when copied.</returns>
    /// <exception cref="IOException">The copy failed.</exception>
    public static bool CreateOrCopy(string source, string destination)
    {
        bool linked = OperatingSystem.IsWindows() ? CreateHardLinkW(destination, source, IntPtr.Zero) : Link(source, destination) == 0;
        if (!linked)
        {
            File.Copy(source, destination);
        }
        return linked;
    }

    [LibraryImport("libc", EntryPoint = "link", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Link(string existing, string created);

    [LibraryImport("kernel32", StringMarshalling = StringMarshalling.Utf16)]
    [return: MarshalAs(UnmanagedType.Bool)]
    private static partial bool CreateHardLinkW(string created, string existing, IntPtr securityAttributes);
}
