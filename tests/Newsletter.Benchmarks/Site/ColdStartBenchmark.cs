using System.Diagnostics;
using System.Globalization;

namespace Newsletter.Benchmarks.Site;

/// <summary>
/// Cold start to first page: from starting `dotnet Newsletter.Web.dll` to the first 200 of the home page,
/// measured three ways in each round, side by side:
/// <list type="bullet">
/// <item>first run: an empty data folder, so the migrations run and the sample notes are imported first;</item>
/// <item>restart: the same folder again (schema up to date, notes unchanged);</item>
/// <item>baseline: a bare Kestrel on the same runtime serving the same home page bytes (BareKestrel).</item>
/// </list>
/// With --r2r it also publishes the app with ReadyToRun (precompiled code, as a deployment would) and
/// adds a restart of that build to each round. Job server and storage are the defaults, as the README's
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
        var r2rDll = args.Contains("--r2r") ? await PublishReadyToRunAsync(Path.Combine(dir, "r2r")) : null;
        var first = new List<double>();
        var restart = new List<double>();
        var r2r = new List<double>();
        var bare = new List<double>();
        byte[]? home = null;
        Console.WriteLine($"Cold start to the first 200 of GET /, {rounds} rounds, folder {dir}");
        Console.WriteLine($"{"round",5} {"first run ms",13} {"restart ms",11} {"restart R2R ms",15} {"bare Kestrel ms",16}");
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
            Console.WriteLine($"{round,5} {first[^1],13:F0} {restart[^1],11:F0} {(r2r.Count > 0 ? r2r[^1].ToString("F0", CultureInfo.InvariantCulture) : "-"),15} {bare[^1],16:F0}");
        }

        Console.WriteLine();
        Console.WriteLine($"median: first run {Loopback.Median(first):F0} ms, restart {Loopback.Median(restart):F0} ms, bare Kestrel {Loopback.Median(bare):F0} ms");
        Console.WriteLine($"spread (min-max): first run {first.Min():F0}-{first.Max():F0} ms, restart {restart.Min():F0}-{restart.Max():F0} ms, bare Kestrel {bare.Min():F0}-{bare.Max():F0} ms");
        Console.WriteLine($"ratio to bare Kestrel (medians): first run {Loopback.Median(first) / Loopback.Median(bare):F2}x, restart {Loopback.Median(restart) / Loopback.Median(bare):F2}x");
        if (r2r.Count > 0)
        {
            Console.WriteLine($"ReadyToRun restart: median {Loopback.Median(r2r):F0} ms (spread {r2r.Min():F0}-{r2r.Max():F0}), {Loopback.Median(r2r) / Loopback.Median(restart):F2} of the JIT restart");
        }

        return 0;
    }

    /// <summary>dotnet publish with ReadyToRun into <paramref name="folder"/>; returns the published dll.</summary>
    private static async Task<string> PublishReadyToRunAsync(string folder)
    {
        Console.WriteLine($"Publishing with ReadyToRun into {folder} ...");
        var project = Path.Combine(Bench.Root, "src", "Newsletter.Web", "Newsletter.Web.csproj");
        using var p = Process.Start(new ProcessStartInfo("dotnet", ["publish", project, "-c", "Release", "-r", "linux-x64", "--self-contained", "false", "-p:PublishReadyToRun=true", "-o", folder])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var output = await p.StandardOutput.ReadToEndAsync() + await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        return p.ExitCode == 0 ? Path.Combine(folder, "Newsletter.Web.dll") : throw new InvalidOperationException("dotnet publish failed: " + output);
    }

    private static readonly Dictionary<string, string> Defaults = new()
    {
        // The run command's defaults, not the quiet ones the request benchmarks use.
        ["Jobs__Storage"] = "Sqlite",
        ["Jobs__Server"] = "true",
        ["Notes__ImportOnStartup"] = "true",
    };

    private static async Task<double> TimeAppAsync(string data, string notes, string? dll = null)
    {
        var port = Loopback.FreePort();
        var url = $"http://127.0.0.1:{port}";
        var clock = Stopwatch.StartNew();
        var app = Loopback.StartApp(url, data, notes, Defaults, dll);
        try
        {
            return (await Loopback.WaitAsync(url + "/", clock)).TotalMilliseconds;
        }
        finally
        {
            Loopback.Stop(app);
        }
    }

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

    private static async Task<double> TimeBareAsync(string file)
    {
        var port = Loopback.FreePort();
        var clock = Stopwatch.StartNew();
        var server = Loopback.StartBareKestrel(port, file);
        try
        {
            return (await Loopback.WaitAsync($"http://127.0.0.1:{port}/", clock)).TotalMilliseconds;
        }
        finally
        {
            Loopback.Stop(server);
        }
    }
}
