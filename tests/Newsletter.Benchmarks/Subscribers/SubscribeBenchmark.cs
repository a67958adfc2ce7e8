using System.Globalization;
using Microsoft.EntityFrameworkCore;

namespace Newsletter.Benchmarks.Subscribers;

/// <summary>
/// The subscribe endpoint under wrk on loopback. Every request is a new address; the request checks it, counts
/// the limits and stores a sign-up job in the configured job storage (the same work for a known address, so the
/// answer can't be timed: Subscribers/SignUpJob.cs). The job server is off while wrk runs, so the number is the
/// request path alone, as readers feel it. Side by side: a bare Kestrel that reads the same form and answers the
/// same redirect (BareKestrel). Afterwards the app is restarted with its job server on and the database is
/// counted until every answered request is a stored subscriber, so a fast answer that stored nothing can't pass
/// for a result, and the time that takes is the background rate.
/// With --jobs the job server runs during wrk as well, as on a node that serves and works: its dispatcher turns
/// sign-ups into readers and its workers send their confirmations beside the flood, on the same cores and database.
/// Usage: dotnet run -c Release --project tests/Newsletter.Benchmarks -- subscribe [seconds=20] [connections=32] [--provider Sqlite|PostgreSql|both] [--warm seconds=5] [--jobs]
/// </summary>
public static class SubscribeBenchmark
{
    public static async Task<int> RunAsync(string[] args)
    {
        // Positional: seconds, connections; --provider Sqlite|PostgreSql|both, --warm N and --jobs anywhere.
        var positional = args.Where((a, i) => !a.StartsWith("--", StringComparison.Ordinal) && (i == 0 || !args[i - 1].StartsWith("--", StringComparison.Ordinal) || args[i - 1] == "--jobs")).ToArray();
        var jobs = args.Contains("--jobs");
        var seconds = positional.Length > 0 ? int.Parse(positional[0], CultureInfo.InvariantCulture) : 20;
        var connections = positional.Length > 1 ? int.Parse(positional[1], CultureInfo.InvariantCulture) : 32;
        var providers = BenchDatabase.Providers(args);
        var warmSeconds = Bench.Int(args, "--warm", 5);
        if (!Loopback.Ready("wrk", Loopback.Wrk))
        {
            return 2;
        }

        var dir = Bench.Temp("subscribe");
        var empty = Path.Combine(dir, "empty.html");
        await File.WriteAllTextAsync(empty, "");
        var barePort = Loopback.FreePort();
        using var bare = Loopback.StartBareKestrel(barePort, empty);
        try
        {
            await Loopback.WaitAsync($"http://127.0.0.1:{barePort}/");
            Console.WriteLine($"POST /subscribe, a new address each time; wrk -t2 -c{connections} -d{seconds}s --latency after {warmSeconds} s of warm-up; "
                + $"job server {(jobs ? "on" : "off")} meanwhile; folder {dir}; {Environment.ProcessorCount} cores");
            var results = new List<(BenchDatabase Database, WrkResult Result, long Stored)>();
            foreach (var provider in providers)
            {
                var database = BenchDatabase.Create(provider, Path.Combine(dir, provider.ToString(), "data"));
                results.Add(await RunAppAsync(database, dir, seconds, connections, warmSeconds, jobs));
            }

            await Loopback.WrkAsync($"http://127.0.0.1:{barePort}/", 3, connections, await ScriptAsync(dir, "warm-bare"));
            var floor = await Loopback.WrkAsync($"http://127.0.0.1:{barePort}/", seconds, connections, await ScriptAsync(dir, "run-bare"));

            Console.WriteLine();
            Console.WriteLine($"{"server",-24} {"req/s",9} {"p50 ms",8} {"p99 ms",8} {"errors",7}");
            foreach (var (database, ours, _) in results)
            {
                Console.WriteLine($"{"subscribe, " + database.Name,-24} {ours.RequestsPerSecond,9:F0} {ours.P50Ms,8:F2} {ours.P99Ms,8:F2} {ours.Errors,7}");
            }

            Console.WriteLine($"{"bare Kestrel",-24} {floor.RequestsPerSecond,9:F0} {floor.P50Ms,8:F2} {floor.P99Ms,8:F2} {floor.Errors,7}");
            foreach (var (database, ours, _) in results)
            {
                Console.WriteLine($"ratio subscribe on {database.Name}/bare Kestrel: {ours.RequestsPerSecond / floor.RequestsPerSecond:F2} (req/s)");
            }

            if (results.Count == 2)
            {
                Console.WriteLine($"ratio PostgreSQL/SQLite: {results[1].Result.RequestsPerSecond / results[0].Result.RequestsPerSecond:F2} (req/s), "
                    + $"{results[1].Result.P99Ms / results[0].Result.P99Ms:F2} (p99)");
            }

            var ok = true;
            foreach (var (database, ours, stored) in results)
            {
                // wrk counts requests it completed; a few may still have been in flight when it stopped counting.
                Console.WriteLine($"stored on {database.Name}: {stored:N0} new subscribers for {ours.Requests:N0} requests answered "
                    + $"({(ours.Requests == 0 ? 0 : stored / (double)ours.Requests):P1}), each with a confirmation job");
                ok &= ours.Errors == 0 && stored >= ours.Requests;
            }

            Console.WriteLine($"load average {Bench.LoadAverage}");
            return ok ? 0 : 1;
        }
        finally
        {
            Loopback.Stop(bare);
        }
    }

    /// <summary>The app on <paramref name="database"/>, its jobs in the same database (the README's setups), warmed, then measured.</summary>
    private static async Task<(BenchDatabase, WrkResult, long)> RunAppAsync(BenchDatabase database, string dir, int seconds, int connections, int warmSeconds, bool jobs)
    {
        Directory.CreateDirectory(Path.Combine(database.DataFolder, "notes"));
        var appUrl = $"http://127.0.0.1:{Loopback.FreePort()}";
        var settings = database.AppSettings();
        settings["Subscriptions__PerIpPerMinute"] = "100000000";
        settings["Subscriptions__PerAddressPerHour"] = "100000000";
        // The storage the README's run uses for this database; the server stays off, unless asked, so queued jobs are not run.
        settings["Jobs__Storage"] = database.Provider == Newsletter.Web.Data.Providers.DatabaseProvider.PostgreSql ? "PostgreSql" : "Sqlite";
        settings["Jobs__Server"] = jobs ? "true" : "false";
        using var app = Loopback.StartApp(appUrl, database.DataFolder, Path.Combine(database.DataFolder, "notes"), settings);
        try
        {
            await Loopback.WaitAsync(appUrl + "/css/site.css");
            var name = database.Provider.ToString().ToLowerInvariant();
            var warm = await Loopback.WrkAsync(appUrl + "/", warmSeconds, connections, await ScriptAsync(dir, "warm-" + name));
            var ours = await Loopback.WrkAsync(appUrl + "/", seconds, connections, await ScriptAsync(dir, "run-" + name));
            Loopback.Stop(app);

            // The sign-ups are jobs: a node with its job server on turns them into readers.
            settings["Jobs__Server"] = "true";
            using var worker = Loopback.StartApp(appUrl, database.DataFolder, Path.Combine(database.DataFolder, "notes"), settings);
            var watch = System.Diagnostics.Stopwatch.StartNew();
            long stored;
            while ((stored = await CountAsync(database)) < warm.Requests + ours.Requests && watch.Elapsed < TimeSpan.FromMinutes(10))
            {
                await Task.Delay(500);
            }

            var readersIn = watch.Elapsed;
            Console.WriteLine($"{database.Name}: {stored:N0} sign-ups (warm-up included) turned into readers in {readersIn.TotalSeconds:F1} s by the job server, {stored / readersIn.TotalSeconds:N0}/s");

            // The readers are only half of it: each is owed a confirmation, sent by the same node's job workers
            // (to its pickup folder here), and each sent one is a line in the reader's history.
            long confirmed;
            while ((confirmed = await ConfirmationsSentAsync(database)) < stored && watch.Elapsed < TimeSpan.FromMinutes(20))
            {
                await Task.Delay(500);
            }

            Console.WriteLine($"{database.Name}: {confirmed:N0} confirmations sent in {watch.Elapsed.TotalSeconds:F1} s from the start, {confirmed / watch.Elapsed.TotalSeconds:N0}/s");
            Loopback.Stop(worker);
            return (database, ours, stored - warm.Requests);
        }
        finally
        {
            Loopback.Stop(app);
        }
    }

    /// <summary>
    /// A wrk script whose every request is a new address: the run's name and each thread's number make the
    /// addresses of one run unlike any other's (Lua's random numbers repeat from process to process).
    /// </summary>
    private static async Task<string> ScriptAsync(string dir, string run)
    {
        var script = Path.Combine(dir, $"subscribe-{run}.lua");
        await File.WriteAllTextAsync(script, $$"""
            local counter = 0
            local thread_id = 0
            setup = function(thread) thread:set("tid", thread_id); thread_id = thread_id + 1 end
            request = function()
              counter = counter + 1
              local body = "email=bench.{{run}}.t" .. tid .. "x" .. counter .. "%40example.org&source=bench"
              return wrk.format("POST", "/subscribe", {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
            end
            """);
        return script;
    }

    private static async Task<long> ConfirmationsSentAsync(BenchDatabase database)
    {
        await using var db = database.Open();
        return await db.SubscriberEvents.LongCountAsync(e => e.Kind == Newsletter.Web.Subscribers.SubscriberEventKind.ConfirmationSent);
    }

    private static async Task<long> CountAsync(BenchDatabase database)
    {
        await using var db = database.Open();
        return await db.Subscribers.LongCountAsync();
    }
}
