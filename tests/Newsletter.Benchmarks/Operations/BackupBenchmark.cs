using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Data.Sqlite;
using Newsletter.Web.Data.Providers;

namespace Newsletter.Benchmarks.Operations;

/// <summary>
/// The backup verb on a SQLite database of N readers (default 100,000) with two sent issues' ledgers (2N rows):
/// idle, beside its floor (sqlite3's .backup and gzip -1 of the copy, the same bytes without the app), and while
/// the app serves /health/ready under wrk and a writer commits a row every 10 ms, beside the same load with no
/// backup running. What it must show: the app keeps serving and writers never wait for the copy.
/// Usage: dotnet run -c Release --project tests/Newsletter.Benchmarks -- backup [--readers N] [--seconds S]
/// </summary>
public static partial class BackupBenchmark
{
    private const string Sqlite3 = "/usr/bin/sqlite3";
    private const string Gzip = "/usr/bin/gzip";

    public static async Task<int> RunAsync(string[] args)
    {
        var readers = Bench.Int(args, "--readers", 100_000);
        var seconds = Bench.Int(args, "--seconds", 20);
        if (!Loopback.Ready("wrk sqlite3 gzip", Loopback.Wrk, Sqlite3, Gzip))
        {
            return 2;
        }

        var dir = Bench.Temp("backup");
        var data = Path.Combine(dir, "data");
        var notes = Path.Combine(dir, "notes");
        var archives = Path.Combine(dir, "archives");
        Directory.CreateDirectory(notes);
        Directory.CreateDirectory(archives);
        foreach (var note in Directory.GetFiles(Path.Combine(Bench.Root, "notes"), "*.md"))
        {
            File.Copy(note, Path.Combine(notes, Path.GetFileName(note)));
        }

        var database = BenchDatabase.Create(DatabaseProvider.Sqlite, data);
        await database.MigrateAsync();
        await database.SeedReadersAsync(readers);
        var file = Path.Combine(data, "newsletter.db");
        SeedLedgers(file);
        // The app's job store too, as the app leaves it: the verb copies both.
        var environment = new Dictionary<string, string> { ["Jobs__Storage"] = "Sqlite", ["Data__Folder"] = data, ["Notes__Folder"] = notes };
        Console.WriteLine($"{readers:N0} readers, {2 * readers:N0} ledger rows, newsletter.db {new FileInfo(file).Length / 1048576.0:F1} MB; folder {dir}; {Environment.ProcessorCount} cores");

        // Idle: the verb as an operator runs it, and the same bytes through the bare tools.
        var url = $"http://127.0.0.1:{Loopback.FreePort()}";
        using (var warm = Loopback.StartApp(url, data, notes, environment))
        {
            // Ready opens the job store, so jobs.db exists as on any server that has run.
            await Loopback.WaitAsync(url + "/health/ready");
            Loopback.Stop(warm);
        }

        var idle = new List<Run>();
        for (var i = 0; i < 3; i++)
        {
            idle.Add(await BackupAsync(environment, archives));
        }

        var floor = new List<double>();
        for (var i = 0; i < 3; i++)
        {
            var copy = Path.Combine(dir, $"floor-{i}.db");
            var clock = Stopwatch.StartNew();
            await RunToolAsync(Sqlite3, file, $".backup '{copy}'");
            await RunToolAsync(Gzip, "-1", "-f", copy);
            floor.Add(clock.Elapsed.TotalSeconds);
        }

        // Serving: the same load with and without backups running back to back.
        using var app = Loopback.StartApp(url, data, notes, environment);
        try
        {
            await Loopback.WaitAsync(url + "/health/ready");
            await Loopback.WrkAsync(url + "/health/ready", 3, 16);
            var quiet = await UnderLoadAsync(url, file, seconds, null);
            var busy = await UnderLoadAsync(url, file, seconds, () => BackupAsync(environment, archives));

            Console.WriteLine();
            Console.WriteLine($"{"idle",-34} {"wall s",8} {"copy s",8} {"archive MB",11}");
            Console.WriteLine($"{"backup verb (process start incl.)",-34} {Loopback.Median(idle.Select(r => r.Wall)),8:F2} {Loopback.Median(idle.Select(r => r.Copy)),8:F2} {idle[0].ArchiveMb,11:F1}");
            Console.WriteLine($"{"sqlite3 .backup + gzip -1",-34} {Loopback.Median(floor),8:F2} {"",8} {new FileInfo(Path.Combine(dir, "floor-0.db.gz")).Length / 1048576.0,11:F1}");
            Console.WriteLine($"ratio backup verb/floor: {Loopback.Median(idle.Select(r => r.Wall)) / Loopback.Median(floor):F2} (wall)");
            Console.WriteLine();
            Console.WriteLine($"{"serving, wrk -c16 " + seconds + " s",-34} {"req/s",8} {"p50 ms",8} {"p99 ms",8} {"write p99",10} {"write max",10} {"backups",8}");
            foreach (var (label, r) in new[] { ("/health/ready, no backup", quiet), ("/health/ready, backups running", busy) })
            {
                Console.WriteLine($"{label,-34} {r.Wrk.RequestsPerSecond,8:F0} {r.Wrk.P50Ms,8:F1} {r.Wrk.P99Ms,8:F1} {r.WriteP99Ms,10:F1} {r.WriteMaxMs,10:F1} {r.Backups.Count,8}");
            }

            if (busy.Backups.Count > 0)
            {
                Console.WriteLine($"backups while serving: median {Loopback.Median(busy.Backups.Select(b => b.Wall)):F2} s wall, {Loopback.Median(busy.Backups.Select(b => b.Copy)):F2} s copying the databases");
            }

            Console.WriteLine($"ratio with/without backups: {busy.Wrk.RequestsPerSecond / quiet.Wrk.RequestsPerSecond:F2} (req/s), {busy.WriteP99Ms / quiet.WriteP99Ms:F2} (write p99)");
            Console.WriteLine($"load average {Bench.LoadAverage}");
            return quiet.Wrk.Errors == 0 && busy.Wrk.Errors == 0 && busy.Backups.Count > 0 ? 0 : 1;
        }
        finally
        {
            Loopback.Stop(app);
        }
    }

    private static async Task<Load> UnderLoadAsync(string url, string database, int seconds, Func<Task<Run>>? backup)
    {
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        var writes = Task.Run(() => Write(database, stop.Token));
        var wrk = Loopback.WrkAsync(url + "/health/ready", seconds, 16);
        var backups = new List<Run>();
        if (backup is not null)
        {
            await Task.Delay(1000);
            while (!stop.IsCancellationRequested)
            {
                backups.Add(await backup());
            }
        }

        var result = await wrk;
        var latencies = (await writes).Order().ToList();
        return new Load(result, latencies[(int)(latencies.Count * 0.99)], latencies[^1], backups);
    }

    /// <summary>A row per 10 ms in its own immediate transaction, as the app's writers commit: each commit's time in ms.</summary>
    private static List<double> Write(string database, CancellationToken stop)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = database, Pooling = false, DefaultTimeout = 60 }.ToString());
        connection.Open();
        using (var setup = connection.CreateCommand())
        {
            setup.CommandText = "PRAGMA busy_timeout = 60000; CREATE TABLE IF NOT EXISTS bench_writes (at INTEGER)";
            setup.ExecuteNonQuery();
        }

        var times = new List<double>();
        while (!stop.IsCancellationRequested)
        {
            var clock = Stopwatch.StartNew();
            using (var tx = connection.BeginTransaction(deferred: false))
            using (var insert = connection.CreateCommand())
            {
                insert.Transaction = tx;
                insert.CommandText = "INSERT INTO bench_writes VALUES ($at)";
                insert.Parameters.AddWithValue("$at", Environment.TickCount64);
                insert.ExecuteNonQuery();
                tx.Commit();
            }

            times.Add(clock.Elapsed.TotalMilliseconds);
            stop.WaitHandle.WaitOne(10);
        }

        return times;
    }

    private static async Task<Run> BackupAsync(Dictionary<string, string> environment, string archives)
    {
        var info = new ProcessStartInfo("dotnet", [Bench.WebDll, "backup", archives])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Bench.Root,
        };
        foreach (var (k, v) in environment)
        {
            info.Environment[k] = v;
        }

        info.Environment["Logging__LogLevel__Default"] = "Warning";
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(info)!;
        var output = await process.StandardOutput.ReadToEndAsync() + await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        var wall = clock.Elapsed.TotalSeconds;
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"backup exited {process.ExitCode}: {output}");
        }

        var copy = Copied().Matches(output).Sum(m => double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture));
        var archive = Directory.GetFiles(archives, "*.tar.gz").Select(f => new FileInfo(f)).OrderByDescending(f => f.LastWriteTimeUtc).First();
        var mb = archive.Length / 1048576.0;
        archive.Delete();
        // One archive per second of the clock: the next run must not find this name taken.
        await Task.Delay(1000 - DateTime.UtcNow.Millisecond);
        return new Run(wall, copy, mb);
    }

    private static void SeedLedgers(string file)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = file, Pooling = false }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = """
            INSERT INTO "Issues" ("Slug", "Subject", "Preheader", "Summary", "Markdown", "Html", "PlainText", "Status", "WebOnly", "EmailOnly", "RecipientCount", "CreatedAt", "UpdatedAt")
            VALUES ('one', 'One', '', '', 'x', '<p>x</p>', 'x', 0, 0, 0, 0, '2026-01-01', '2026-01-01'), ('two', 'Two', '', '', 'x', '<p>x</p>', 'x', 0, 0, 0, 0, '2026-01-01', '2026-01-01');
            INSERT INTO "Deliveries" ("IssueId", "SubscriberId", "Status", "Attempts", "LeaseExpiresAtMs", "NextAttemptAtMs", "SentAtMs", "SmtpCode", "Uncertain")
            SELECT i."Id", s."Id", $sent, 1, 0, 0, 1767225600000 + s."Id", 250, 0 FROM "Subscribers" s CROSS JOIN "Issues" i;
            """;
        command.Parameters.AddWithValue("$sent", (int)Web.Sending.DeliveryStatus.Sent);
        command.ExecuteNonQuery();
    }

    private static async Task RunToolAsync(string tool, params string[] args)
    {
        using var process = Process.Start(new ProcessStartInfo(tool, args) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
    }

    [GeneratedRegex(@"copied in ([\d.]+) s")]
    private static partial Regex Copied();

    private sealed record Run(double Wall, double Copy, double ArchiveMb);

    private sealed record Load(WrkResult Wrk, double WriteP99Ms, double WriteMaxMs, List<Run> Backups);
}
