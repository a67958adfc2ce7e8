using System.Runtime.InteropServices;

namespace Newsletter.Web.Infrastructure;

/// <summary>
/// glibc gives a thread an arena of its own at its first allocation (and another when its arena's lock is busy), up
/// to eight per core, and keeps what an arena once held. Managed objects never come from malloc, but SQLite's page caches and statements, OpenSSL and
/// ICU do, from whichever pool thread runs them, and a long send spread that over many arenas. MALLOC_ARENA_MAX=2 in
/// the environment made a send's peak 10 to 20 MB lower at the same rate (README, "Memory and cold start"); set from
/// Main, the limit only stops arenas beyond those the runtime's threads made before it (seven were counted in a
/// send), so what those keep is given back by <see cref="TrimEvery"/>. An operator's own MALLOC_ARENA_MAX wins;
/// elsewhere than glibc this does nothing.
/// </summary>
internal static class MallocArenas
{
    // M_ARENA_MAX in glibc's malloc.h.
    private const int ArenaMax = -8;

    private static Timer? _trimmer;

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

    /// <summary>
    /// Gives the pages of freed malloc memory back to the system every <paramref name="interval"/>, once per process.
    /// glibc returns memory by itself only from the top of an arena; what SQLite and the others free in the middle
    /// stays in the process. Midway through a send to 1,000,000 readers (with a smaller SQLite cache, on trial), 40 of
    /// the 56 MB the arenas held were free chunks, and one trim took the process from 282 to 259 MB. A trim takes about a millisecond (0.6 ms median
    /// during that send), holding each arena's lock in turn. False elsewhere than glibc.
    /// </summary>
    public static bool TrimEvery(TimeSpan interval)
    {
        if (!OperatingSystem.IsLinux() || Volatile.Read(ref _trimmer) is not null)
        {
            return false;
        }

        try
        {
            Trim();
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }

        var timer = new Timer(static _ => Trim(), null, interval, interval);
        if (Interlocked.CompareExchange(ref _trimmer, timer, null) is not null)
        {
            timer.Dispose();
        }

        return true;
    }

    /// <summary>One trim of every arena; true when glibc gave some memory back.</summary>
    public static bool Trim() => MallocTrim(0) == 1;

    // DllImport, not LibraryImport: the generated form needs unsafe code in the project for two ints.
    [DllImport("libc.so.6", EntryPoint = "mallopt")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int MallOpt(int parameter, int value);

    [DllImport("libc.so.6", EntryPoint = "malloc_trim")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int MallocTrim(nuint pad);
}
