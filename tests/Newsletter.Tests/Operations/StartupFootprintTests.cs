using System.Net;
using System.Runtime.InteropServices;
using System.Text.Json;
using Newsletter.Testing;

namespace Newsletter.Tests.Operations;

/// <summary>
/// What the app loads and how its runtime is set, from the built app as the README runs it (README, "Memory and
/// cold start"): each assembly loaded is memory held and start-up time spent, so one that the configuration
/// does not use stays unloaded.
/// </summary>
public class StartupFootprintTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ASqliteAppServesItsHomePageWithoutLoadingTheOtherJobStores()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "reads /proc/PID/maps");
        await using var app = new AppProcess();
        await app.StartAsync();
        using var http = new HttpClient();
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(app.BaseUrl + "/", Ct)).StatusCode);

        var mapped = File.ReadLines($"/proc/{app.ProcessId}/maps")
            .Select(l => Path.GetFileName(l.Split(' ', StringSplitOptions.RemoveEmptyEntries).Last()))
            .ToHashSet(StringComparer.Ordinal);
        Assert.Contains("Newsletter.Hangfire.Sqlite.dll", mapped);
        Assert.DoesNotContain("Hangfire.PostgreSql.dll", mapped);
        Assert.DoesNotContain("Hangfire.InMemory.dll", mapped);
    }

    private static bool OnGlibc => OperatingSystem.IsLinux() && (File.Exists("/lib/x86_64-linux-gnu/libc.so.6") || File.Exists("/lib/aarch64-linux-gnu/libc.so.6"));

    /// <summary>
    /// The app asks glibc for two malloc arenas at start (Infrastructure/MallocArenas.cs). A wrong library or entry
    /// point name would fail silently in the app, so the binding itself is checked here: glibc takes the setting.
    /// </summary>
    [Fact]
    public void GlibcTakesTheMallocArenaLimit()
    {
        Assert.SkipUnless(OnGlibc, "glibc only");
        Assert.SkipWhen(Environment.GetEnvironmentVariable("MALLOC_ARENA_MAX") is not null, "the operator's MALLOC_ARENA_MAX wins, by design");
        Assert.True(Newsletter.Web.Infrastructure.MallocArenas.Limit());
    }

    /// <summary>
    /// What glibc keeps of freed memory in the middle of an arena goes back to the system on a trim
    /// (<c>MallocArenas.TrimEvery</c> runs one every few seconds in the app). Every other chunk of a run is freed, so the
    /// freed ones sit between live ones and glibc cannot return them by itself from the arena's top; after the trim
    /// their pages must no longer be resident. The app's own timer may trim first in this process, which holds as
    /// well: the pages are checked, not the return value.
    /// </summary>
    [Fact]
    public void FreedMallocMemoryIsGivenBackByATrim()
    {
        Assert.SkipUnless(OnGlibc, "glibc only");
        const int Size = 64 * 1024;
        var page = Environment.SystemPageSize;
        var chunks = new IntPtr[1000];
        var ones = Enumerable.Repeat((byte)1, Size).ToArray();
        for (var i = 0; i < chunks.Length; i++)
        {
            // Below glibc's mmap threshold (128 KB), so from an arena; written through, so resident.
            chunks[i] = Marshal.AllocHGlobal(Size);
            Marshal.Copy(ones, 0, chunks[i], Size);
        }

        // The odd ones, but not the last, which may border the arena's top (a trim leaves the top to glibc).
        var freed = chunks.Where((_, i) => i % 2 == 1 && i < chunks.Length - 1).ToArray();
        var interior = freed.Select(p => (Start: (p + 64 + page - 1) / page * page, End: (p + Size) / page * page)).ToArray();
        Assert.Equal(interior.Length, interior.Count(r => Resident(r.Start, r.End) == (r.End - r.Start) / page));
        foreach (var p in freed)
        {
            Marshal.FreeHGlobal(p);
        }

        Newsletter.Web.Infrastructure.MallocArenas.Trim();
        var pages = interior.Sum(r => (r.End - r.Start) / page);
        var stillResident = interior.Sum(r => Resident(r.Start, r.End));
        foreach (var p in chunks.Except(freed))
        {
            Marshal.FreeHGlobal(p);
        }

        // Other tests' threads may take a few of those chunks again meanwhile; nearly all must be gone.
        Assert.True(stillResident < pages / 10, $"{stillResident} of {pages} freed pages still resident after a trim");
    }

    private static long Resident(nint start, nint end)
    {
        var vector = new byte[(end - start) / Environment.SystemPageSize];
        Assert.Equal(0, MinCore(start, (nuint)(end - start), vector));
        return vector.Count(b => (b & 1) == 1);
    }

    [DllImport("libc.so.6", EntryPoint = "mincore", SetLastError = true)]
    private static extern int MinCore(nint address, nuint length, byte[] vector);

    /// <summary>
    /// Workstation GC, with background collections left on: without them the runtime lets generation 0 grow to
    /// 200 MB between collections (6 MB with them), which is what the app's peak memory in a send or an import
    /// was made of (README, "Memory and cold start").
    /// </summary>
    [Fact]
    public void TheAppRunsOnWorkstationGarbageCollectionWithBackgroundCollections()
    {
        var properties = RuntimeConfigProperties();
        Assert.False(properties.GetProperty("System.GC.Server").GetBoolean());
        Assert.True(!properties.TryGetProperty("System.GC.Concurrent", out var concurrent) || concurrent.GetBoolean());
    }

    [Fact]
    public void IdleThreadPoolWorkersSleepInsteadOfSpinning()
    {
        Assert.Equal(0, RuntimeConfigProperties().GetProperty("System.Threading.ThreadPool.UnfairSemaphoreSpinLimit").GetInt32());
    }

    // The runtime reads these from the runtimeconfig.json the build writes beside the app.
    private static JsonElement RuntimeConfigProperties()
    {
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Newsletter.Web.runtimeconfig.json")));
        return config.RootElement.GetProperty("runtimeOptions").GetProperty("configProperties").Clone();
    }
}
