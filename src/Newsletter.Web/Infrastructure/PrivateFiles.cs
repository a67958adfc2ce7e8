using System.Runtime.InteropServices;

namespace Newsletter.Web.Infrastructure;

/// <summary>
/// The data folder holds the installation's secrets: the SQLite files (authors' password hashes, every reader's
/// address), the data-protection and secret keys, and the pickup outbox (reset links). On Unix they are the
/// service user's alone: the process creates everything with umask 077 (so SQLite's WAL and journal files,
/// new key files and outbox messages are born 0600, whoever creates them), and files left from before with
/// wider modes are tightened at start.
/// </summary>
public static partial class PrivateFiles
{
    public const UnixFileMode File = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    public const UnixFileMode Folder = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>Creates the data folder (0700) and makes what it already holds owner-only.</summary>
    public static void Protect(string dataFolder)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(dataFolder);
            return;
        }

        _ = NativeMethods.umask(0b000_111_111);
        Directory.CreateDirectory(dataFolder, Folder);
        System.IO.File.SetUnixFileMode(dataFolder, Folder);
        foreach (var entry in new DirectoryInfo(dataFolder).EnumerateFileSystemInfos("*", new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true, AttributesToSkip = 0 }))
        {
            var wanted = entry is DirectoryInfo ? Folder : File;
            if (entry.LinkTarget is null && entry.UnixFileMode != wanted)
            {
                entry.UnixFileMode = wanted;
            }
        }
    }

    private static class NativeMethods
    {
        [DllImport("libc", SetLastError = false)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        [System.Diagnostics.CodeAnalysis.SuppressMessage("Interoperability", "SYSLIB1054", Justification = "LibraryImport needs unsafe code for one int-to-int call.")]
        internal static extern uint umask(uint mask);
    }
}
