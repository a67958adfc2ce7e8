using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Newsletter.Benchmarks.Subscribers;

/// <summary>
/// The subscribe endpoint under wrk on loopback. Every request is a new address, so every one inserts a
/// subscriber and its history line and enqueues a confirmation job into the configured job storage; the
/// job server is off, so nothing is mailed and the number is the request path alone, as readers feel it.
/// Side by side: a bare Kestrel that reads the same form and answers the same redirect (BareKestrel).
/// Afterwards the database is counted, so a fast answer that stored nothing can't pass for a result.
/// Usage: dotnet run -c Release --project tests/Newsletter.Benchmarks -- subscribe [seconds=20] [connections=32]
/// </summary>
public static class SubscribeBenchmark
{
    public static async Task<int> RunAsync(string[] args)
    {
        var seconds = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 20;
        var connections = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 32;
        if (!Loopback.Ready("wrk", Loopback.Wrk))
        {
            return 2;
        }

        var dir = Bench.Temp("subscribe");
        var data = Path.Combine(dir, "data");
        Directory.CreateDirectory(data);
        Directory.CreateDirectory(Path.Combine(dir, "notes"));
        var appUrl = $"http://127.0.0.1:{Loopback.FreePort()}";
        using var app = Loopback.StartApp(appUrl, data, Path.Combine(dir, "notes"), new Dictionary<string, string>
        {
            ["Subscriptions__PerIpPerMinute"] = "100000000",
            ["Subscriptions__PerAddressPerHour"] = "100000000",
            // The storage the README's run uses; the server stays off so queued jobs are not run.
            ["Jobs__Storage"] = "Sqlite",
        });
        var empty = Path.Combine(dir, "empty.html");
        await File.WriteAllTextAsync(empty, "");
        var barePort = Loopback.FreePort();
        using var bare = Loopback.StartBareKestrel(barePort, empty);
        try
        {
            await Loopback.WaitAsync(appUrl + "/css/site.css");
            await Loopback.WaitAsync($"http://127.0.0.1:{barePort}/");
            Console.WriteLine($"POST /subscribe, a new address each time; wrk -t2 -c{connections} -d{seconds}s --latency; folder {dir}");
            await Loopback.WrkAsync(appUrl + "/", 5, connections, await ScriptAsync(dir, "warm"));
            await Loopback.WrkAsync($"http://127.0.0.1:{barePort}/", 3, connections, await ScriptAsync(dir, "warm-bare"));
            var before = Count(data);
            var ours = await Loopback.WrkAsync(appUrl + "/", seconds, connections, await ScriptAsync(dir, "run"));
            var stored = Count(data) - before;
            var floor = await Loopback.WrkAsync($"http://127.0.0.1:{barePort}/", seconds, connections, await ScriptAsync(dir, "run-bare"));

            Console.WriteLine();
            Console.WriteLine($"{"server",-14} {"req/s",9} {"p50 ms",8} {"p99 ms",8} {"errors",7}");
            Console.WriteLine($"{"subscribe",-14} {ours.RequestsPerSecond,9:F0} {ours.P50Ms,8:F2} {ours.P99Ms,8:F2} {ours.Errors,7}");
            Console.WriteLine($"{"bare Kestrel",-14} {floor.RequestsPerSecond,9:F0} {floor.P50Ms,8:F2} {floor.P99Ms,8:F2} {floor.Errors,7}");
            Console.WriteLine($"ratio subscribe/bare Kestrel: {ours.RequestsPerSecond / floor.RequestsPerSecond:F2} (req/s)");
            // wrk counts requests it completed; a few may still have been in flight when it stopped counting.
            Console.WriteLine($"stored: {stored:N0} new subscribers for {ours.Requests:N0} requests answered ({(ours.Requests == 0 ? 0 : stored / (double)ours.Requests):P1}), each with a queued confirmation job");
            return ours.Errors == 0 && stored >= ours.Requests ? 0 : 1;
        }
        finally
        {
            Loopback.Stop(bare);
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

    private static long Count(string dataFolder)
    {
        using var connection = new SqliteConnection($"Data Source={Path.Combine(dataFolder, "newsletter.db")};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT count(*) FROM Subscribers";
        return (long)command.ExecuteScalar()!;
    }
}
