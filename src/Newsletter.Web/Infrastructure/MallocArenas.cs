using System.Runtime.InteropServices;

namespace Newsletter.Web.Infrastructure;

/// <summary>
/// glibc gives each thread that meets a busy malloc lock an arena of its own, up to eight per core, and keeps what
/// an arena once held. Managed objects never come from malloc, but SQLite's page caches and statements, OpenSSL and
/// ICU do, from whichever pool thread runs them, and a long send spread that over many arenas. With two, a send's peak
/// was 10 to 20 MB lower at the same rate (README, "Memory and cold start"). An operator's own MALLOC_ARENA_MAX wins;
/// elsewhere than glibc this does nothing.
/// </summary>
internal static class MallocArenas
{
    // M_ARENA_MAX in glibc's malloc.h.
    private const int ArenaMax = -8;

    /// <summary>Whether glibc took the limit (false: another C library, or the operator set MALLOC_ARENA_MAX).</summary>
    public static bool Limit(int arenas = 2)
    {
        if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable("MALLOC_ARENA_MAX") is not null)
        {
            return false;
        }

        try
        {
            return MallOpt(ArenaMax, arenas) == 1;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // musl (Alpine) has no arenas to limit.
            return false;
        }
    }

    // DllImport, not LibraryImport: the generated form needs unsafe code in the project for two ints.
    [DllImport("libc.so.6", EntryPoint = "mallopt")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int MallOpt(int parameter, int value);
}
