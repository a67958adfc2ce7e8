using System.Diagnostics;
using System.Globalization;

namespace Newsletter.Benchmarks.Site;

/// <summary>
/// Cold start to first page: from starting `dotnet Newsletter.Web.dll` to the first 200 of the home page,
/// measured three ways in each round, side by side:
/// <list type="bullet">
/// <item>first run: an empty data folder, so the migrations run and the sample notes are imported first;</item>
/// <item>restart: the same folder again (schema up to date, notes unchanged);</item>
/// <item>baseline: a bare Kestrel on the same runtime serving the same home page bytes (BareKestrel);</item>
/// <item>the stack's floor: Newsletter.Benchmarks.Floor, the least app on the same stack (EF Core on SQLite,
/// Identity, Razor Pages, a Hangfire server on our storage), one query and one page, restarted on its own file.</item>
/// </list>
/// With --r2r it also publishes the app and the floor with ReadyToRun (precompiled code, as a deployment would)
/// and adds a restart of each to every round. After the rounds, each server's RSS 5 s after its first page. Job server and storage are the defaults, as the README's
/// run command has them; the time is from exec of the built app, so `dotnet run`'s own build check is not in it.
/// Usage: dotnet run -c Release --project tests/Newsletter.Benchmarks -- coldstart [rounds=5] [--r2r]
/// </summary>
public static class ColdStartBenchmark
{
    public static async Task<int> RunAsync(string[] args)
    {
        var rounds = args.FirstOrDefault(a => !a.StartsWith("--", StringComparison.Ordinal)) is { } n ? int.Parse(n, CultureInfo.InvariantCulture) : 5;
        Loopback.WarnIfDebug();
        var dir = Bench.Temp("coldstart");
        var r2rDll = args.Contains("--r2r") ? await PublishReadyToRunAsync(AppProject, Path.Combine(dir, "r2r"), "Newsletter.Web.dll") : null;
        var floorR2rDll = args.Contains("--r2r") ? await PublishReadyToRunAsync(FloorProject, Path.Combine(dir, "floor-r2r"), FloorDllName) : null;
        var floorData = Path.Combine(dir, "floor-data");
        var first = new List<double>();
        var restart = new List<double>();
        var r2r = new List<double>();
        var bare = new List<double>();
        var floor = new List<double>();
        var floorR2r = new List<double>();
        byte[]? home = null;
        Console.WriteLine($"Cold start to the first 200 of GET /, {rounds} rounds, folder {dir}, load average {Bench.LoadAverage}");
        // The floor's first start makes its database; the rounds time its restarts only.
        await TimeFloorAsync(floorData, FloorDll);
        Console.WriteLine($"{"round",5} {"first run ms",13} {"restart ms",11} {"restart R2R ms",15} {"bare Kestrel ms",16} {"floor ms",9} {"floor R2R ms",13}");
        for (var round = 1; round <= rounds; round++)
        {
            var data = Path.Combine(dir, $"round-{round}", "data");
            var notes = Path.Combine(dir, $"round-{round}", "notes");
            Directory.CreateDirectory(data);
            Directory.CreateDirectory(notes);
            foreach (var file in Directory.GetFiles(Path.Combine(Bench.Root, "notes"), "*.md"))
            {
                File.Copy(file, Path.Combine(notes, Path.GetFileName(file)));
            }

            first.Add(await TimeAppAsync(data, notes));
            restart.Add(await TimeAppAsync(data, notes));
            if (r2rDll is not null)
            {
                r2r.Add(await TimeAppAsync(data, notes, r2rDll));
            }

            if (home is null)
            {
                home = await FetchHomeAsync(data, notes);
                await File.WriteAllBytesAsync(Path.Combine(dir, "home.html"), home);
            }

            bare.Add(await TimeBareAsync(Path.Combine(dir, "home.html")));
            floor.Add(await TimeFloorAsync(floorData, FloorDll));
            if (floorR2rDll is not null)
            {
                floorR2r.Add(await TimeFloorAsync(floorData, floorR2rDll));
            }

            Console.WriteLine($"{round,5} {first[^1],13:F0} {restart[^1],11:F0} {Last(r2r),15} {bare[^1],16:F0} {floor[^1],9:F0} {Last(floorR2r),13}");
        }

        Console.WriteLine();
        Console.WriteLine($"median: first run {Loopback.Median(first):F0} ms, restart {Loopback.Median(restart):F0} ms, bare Kestrel {Loopback.Median(bare):F0} ms");
        Console.WriteLine($"spread (min-max): first run {first.Min():F0}-{first.Max():F0} ms, restart {restart.Min():F0}-{restart.Max():F0} ms, bare Kestrel {bare.Min():F0}-{bare.Max():F0} ms");
        Console.WriteLine($"ratio to bare Kestrel (medians): first run {Loopback.Median(first) / Loopback.Median(bare):F2}x, restart {Loopback.Median(restart) / Loopback.Median(bare):F2}x");
        if (r2r.Count > 0)
        {
            Console.WriteLine($"ReadyToRun restart: median {Loopback.Median(r2r):F0} ms (spread {r2r.Min():F0}-{r2r.Max():F0}), {Loopback.Median(r2r) / Loopback.Median(restart):F2} of the JIT restart, {Loopback.Median(r2r) / Loopback.Median(bare):F2}x bare Kestrel");
        }

        // The floor says how much of each ratio the stack itself takes: a goal under the floor's own ratio cannot be
        // met by any app built on these parts, and the app's distance to the floor is its own start-up work.
        Console.WriteLine($"stack floor restart: median {Loopback.Median(floor):F0} ms (spread {floor.Min():F0}-{floor.Max():F0}), {Loopback.Median(floor) / Loopback.Median(bare):F2}x bare Kestrel; the app's restart is {Loopback.Median(restart) / Loopback.Median(floor):F2}x the floor's");
        if (floorR2r.Count > 0 && r2r.Count > 0)
        {
            Console.WriteLine($"stack floor ReadyToRun restart: median {Loopback.Median(floorR2r):F0} ms (spread {floorR2r.Min():F0}-{floorR2r.Max():F0}), {Loopback.Median(floorR2r) / Loopback.Median(bare):F2}x bare Kestrel; the app's ReadyToRun restart is {Loopback.Median(r2r) / Loopback.Median(floorR2r):F2}x the floor's");
        }

        var last = Path.Combine(dir, $"round-{rounds}");
        Console.WriteLine();
        Console.WriteLine("RSS 5 s after the first page (restarts):");
        Console.WriteLine($"  app           {await IdleRssAsync(url => Loopback.StartApp(url, Path.Combine(last, "data"), Path.Combine(last, "notes"), Defaults)) / 1048576.0,7:F1} MB");
        if (r2rDll is not null)
        {
            Console.WriteLine($"  app R2R       {await IdleRssAsync(url => Loopback.StartApp(url, Path.Combine(last, "data"), Path.Combine(last, "notes"), Defaults, r2rDll)) / 1048576.0,7:F1} MB");
        }

        Console.WriteLine($"  stack floor   {await IdleRssAsync(url => StartFloor(url, floorData, FloorDll)) / 1048576.0,7:F1} MB");
        Console.WriteLine($"  bare Kestrel  {await IdleRssAsync(url => Loopback.StartBareKestrel(new Uri(url).Port, Path.Combine(dir, "home.html"))) / 1048576.0,7:F1} MB");
        return 0;
    }

    private static string Last(List<double> values) => values.Count > 0 ? values[^1].ToString("F0", CultureInfo.InvariantCulture) : "-";

    private static string AppProject => Path.Combine(Bench.Root, "src", "Newsletter.Web", "Newsletter.Web.csproj");

    private static string FloorProject => Path.Combine(Bench.Root, "tests", "Newsletter.Benchmarks.Floor", "Newsletter.Benchmarks.Floor.csproj");

    private const string FloorDllName = "Newsletter.Benchmarks.Floor.dll";

    /// <summary>
    /// The floor as this benchmark's build of it (the project reference builds it; its output stays in its own bin,
    /// in the configuration this benchmark was built in: bin/Release/net10.0 here means bin/Release/net10.0 there).
    /// </summary>
    private static string FloorDll
    {
        get
        {
            var tfm = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
            var dll = Path.Combine(Path.GetDirectoryName(FloorProject)!, "bin", tfm.Parent!.Name, tfm.Name, FloorDllName);
            return File.Exists(dll) ? dll : throw new FileNotFoundException($"{dll} is missing: build tests/Newsletter.Benchmarks (it builds the floor) in the same configuration", dll);
        }
    }

    private static Process StartFloor(string url, string data, string dll)
    {
        var info = new ProcessStartInfo("dotnet", [dll, "--urls", url, "--Data", data])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        info.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        info.Environment["Logging__LogLevel__Default"] = "Warning";
        return Loopback.Drain(Process.Start(info) ?? throw new InvalidOperationException("dotnet did not start"));
    }

    /// <summary>Starts a server, fetches its home page once, waits 5 s and reads its resident set (VmRSS).</summary>
    private static async Task<long> IdleRssAsync(Func<string, Process> start)
    {
        var url = $"http://127.0.0.1:{Loopback.FreePort()}";
        var server = start(url);
        try
        {
            await Loopback.WaitAsync(url + "/");
            await Task.Delay(TimeSpan.FromSeconds(5));
            var line = File.ReadLines($"/proc/{server.Id}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
            return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
        }
        finally
        {
            Loopback.Stop(server);
        }
    }

    /// <summary>dotnet publish of <paramref name="project"/> with ReadyToRun into <paramref name="folder"/>; returns the published dll.</summary>
    private static async Task<string> PublishReadyToRunAsync(string project, string folder, string dll)
    {
        Console.WriteLine($"Publishing {Path.GetFileNameWithoutExtension(project)} with ReadyToRun into {folder} ...");
        using var p = Process.Start(new ProcessStartInfo("dotnet", ["publish", project, "-c", "Release", "-r", "linux-x64", "--self-contained", "false", "-p:PublishReadyToRun=true", "-o", folder])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var output = await p.StandardOutput.ReadToEndAsync() + await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        return p.ExitCode == 0 ? Path.Combine(folder, dll) : throw new InvalidOperationException("dotnet publish failed: " + output);
    }

    private static readonly Dictionary<string, string> Defaults = new()
    {
        // The run command's defaults, not the quiet ones the request benchmarks use.
        ["Jobs__Storage"] = "Sqlite",
        ["Jobs__Server"] = "true",
        ["Notes__ImportOnStartup"] = "true",
    };

    private static async Task<byte[]> FetchHomeAsync(string data, string notes)
    {
        var port = Loopback.FreePort();
        var url = $"http://127.0.0.1:{port}";
        var app = Loopback.StartApp(url, data, notes, Defaults);
        try
        {
            await Loopback.WaitAsync(url + "/");
            using var http = new HttpClient();
            return await http.GetByteArrayAsync(url + "/");
        }
        finally
        {
            Loopback.Stop(app);
        }
    }

    /// <summary>Milliseconds from starting a server (given its URL) to the first 200 of its home page; then it is stopped.</summary>
    private static async Task<double> TimeToFirstPageAsync(Func<string, Process> start)
    {
        var url = $"http://127.0.0.1:{Loopback.FreePort()}";
        var clock = Stopwatch.StartNew();
        var server = start(url);
        try
        {
            return (await Loopback.WaitAsync(url + "/", clock)).TotalMilliseconds;
        }
        finally
        {
            Loopback.Stop(server);
        }
    }

    private static Task<double> TimeAppAsync(string data, string notes, string? dll = null) =>
        TimeToFirstPageAsync(url => Loopback.StartApp(url, data, notes, Defaults, dll));

    private static Task<double> TimeFloorAsync(string data, string dll) => TimeToFirstPageAsync(url => StartFloor(url, data, dll));

    private static Task<double> TimeBareAsync(string file) => TimeToFirstPageAsync(url => Loopback.StartBareKestrel(new Uri(url).Port, file));
}
