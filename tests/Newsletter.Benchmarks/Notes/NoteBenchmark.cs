using System.Globalization;

namespace Newsletter.Benchmarks.Notes;

/// <summary>
/// A note page under wrk on loopback: requests/s, p50 and p99, at one connection (a reader's latency on an
/// idle server) and at 50 (a busy one). Side by side in the same run, the same bytes from nginx
/// (nginx-light, sendfile) and from a bare Kestrel (BareKestrel: the runtime's floor). The app is measured
/// twice: as readers get it (output cache), and with the cache bypassed, which renders the page each time.
/// Usage: dotnet run -c Release --project tests/Newsletter.Benchmarks -- note [seconds=10]
/// </summary>
public static class NoteBenchmark
{
    private const string NotePath = "/notes/exactly-once-is-a-ledger";

    public static async Task<int> RunAsync(string[] args)
    {
        var seconds = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 10;
        if (!Loopback.Ready("nginx-light wrk", Loopback.Nginx, Loopback.Wrk))
        {
            return 2;
        }

        var dir = Bench.Temp("note");
        var data = Path.Combine(dir, "data");
        var notes = Path.Combine(dir, "notes");
        Directory.CreateDirectory(data);
        Directory.CreateDirectory(notes);
        foreach (var file in Directory.GetFiles(Path.Combine(Bench.Root, "notes"), "*.md"))
        {
            File.Copy(file, Path.Combine(notes, Path.GetFileName(file)));
        }

        var appUrl = $"http://127.0.0.1:{Loopback.FreePort()}";
        using var app = Loopback.StartApp(appUrl, data, notes, new Dictionary<string, string> { ["Notes__ImportOnStartup"] = "true" });
        System.Diagnostics.Process? nginx = null;
        System.Diagnostics.Process? bare = null;
        try
        {
            await Loopback.WaitAsync(appUrl + NotePath);
            using var http = new HttpClient();
            var page = await http.GetByteArrayAsync(appUrl + NotePath);
            var file = Path.Combine(dir, "note.html");
            await File.WriteAllBytesAsync(file, page);
            var nginxPort = Loopback.FreePort();
            nginx = Loopback.StartNginx(Path.Combine(dir, "nginx"), nginxPort, [("note.html", page)]);
            var barePort = Loopback.FreePort();
            bare = Loopback.StartBareKestrel(barePort, file);
            var servers = new (string Name, string Url, string? Header)[]
            {
                ("app", appUrl + NotePath, null),
                // Any Authorization header keeps a request out of the output cache: the page is rendered.
                ("app, uncached", appUrl + NotePath, "Authorization: Bearer benchmark"),
                ("bare Kestrel", $"http://127.0.0.1:{barePort}/note.html", null),
                ("nginx", $"http://127.0.0.1:{nginxPort}/note.html", null),
            };
            foreach (var (_, url, _) in servers)
            {
                await Loopback.WaitAsync(url);
            }

            Console.WriteLine($"Note page {NotePath}: {page.Length / 1024.0:F1} KB; wrk -t2 -d{seconds}s --latency on loopback, folder {dir}");
            // Warm-up: tiered JIT and dynamic PGO need traffic before the app runs the code it will run all day.
            foreach (var (_, url, header) in servers)
            {
                await Loopback.WrkAsync(url, 4, 50, header: header);
            }

            Console.WriteLine();
            Console.WriteLine($"{"connections",11} {"server",-14} {"req/s",9} {"p50 ms",8} {"p99 ms",8} {"errors",7}");
            foreach (var connections in new[] { 1, 50 })
            {
                var results = new List<(string Name, WrkResult Result)>();
                foreach (var (name, url, header) in servers)
                {
                    var r = await Loopback.WrkAsync(url, seconds, connections, header: header);
                    results.Add((name, r));
                    Console.WriteLine($"{connections,11} {name,-14} {r.RequestsPerSecond,9:F0} {r.P50Ms,8:F2} {r.P99Ms,8:F2} {r.Errors,7}");
                }

                var ours = results[0].Result;
                var uncached = results[1].Result;
                var kestrel = results[2].Result;
                var ng = results[3].Result;
                Console.WriteLine($"{connections,11} ratios: app/nginx {ours.RequestsPerSecond / ng.RequestsPerSecond:F2}, app/bare Kestrel {ours.RequestsPerSecond / kestrel.RequestsPerSecond:F2}, uncached/app {uncached.RequestsPerSecond / ours.RequestsPerSecond:F2} (req/s)");
            }

            return 0;
        }
        finally
        {
            Loopback.Stop(bare);
            Loopback.Stop(nginx);
            Loopback.Stop(app);
        }
    }
}
