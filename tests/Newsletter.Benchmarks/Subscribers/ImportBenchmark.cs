using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Data.Sqlite;

namespace Newsletter.Benchmarks.Subscribers;

/// <summary>
/// Imports a generated CSV (default 1,000,000 rows) through the app's own `import-subscribers` verb in a
/// child process, and, side by side, runs a bare prepared-INSERT loop of the same rows into the same
/// schema. Reports rows/s for both, the ratio, and the importer's peak RSS. Goal: ratio ≥ 0.6, RSS < 200 MB.
/// </summary>
public static class ImportBenchmark
{
    public static async Task<int> RunAsync(string[] args)
    {
        var rows = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 1_000_000;
        var dir = Bench.Temp("import");
        var csv = Path.Combine(dir, "subscribers.csv");
        await GenerateAsync(csv, rows);
        Console.WriteLine($"Generated {rows:N0} rows ({new FileInfo(csv).Length / 1024 / 1024} MB) in {csv}");

        // Baseline first, on its own freshly migrated database.
        var baseDb = await MigratedDatabaseAsync(Path.Combine(dir, "baseline"));
        var baseline = Stopwatch.StartNew();
        await BareInsertLoopAsync(baseDb, rows);
        baseline.Stop();

        var oursData = Path.Combine(dir, "ours");
        await MigratedDatabaseAsync(oursData);
        var (elapsed, peak, output) = await RunVerbAsync(oursData, ["import-subscribers", csv, "--active", "--consent", "benchmark"]);

        var baseRate = rows / baseline.Elapsed.TotalSeconds;
        var ourRate = rows / elapsed.TotalSeconds;
        Console.WriteLine(output.Trim());
        Console.WriteLine($"baseline (bare prepared INSERT loop): {baseline.Elapsed.TotalSeconds:F2} s, {baseRate:N0} rows/s");
        Console.WriteLine($"import-subscribers (parse, validate, hash, suppress, dedupe, insert): {elapsed.TotalSeconds:F2} s, {ourRate:N0} rows/s (process start included)");
        Console.WriteLine($"ratio: {ourRate / baseRate:F2} (goal ≥ 0.60)");
        Console.WriteLine($"peak RSS of the importer: {peak / 1024.0 / 1024.0:F0} MB (goal < 200 MB)");
        return 0;
    }

    private static async Task GenerateAsync(string path, int rows)
    {
        await using var w = new StreamWriter(path, false, new UTF8Encoding(false), 1 << 16);
        await w.WriteLineAsync("email,name,tags,subscribed");
        for (var i = 0; i < rows; i++)
        {
            await w.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"reader{i:D7}@example{i % 97}.org,Reader {i},{(i % 3 == 0 ? "early" : "")},2025-{1 + (i % 12):D2}-{1 + (i % 28):D2}"));
        }
    }

    private static async Task<string> MigratedDatabaseAsync(string dataFolder)
    {
        Directory.CreateDirectory(dataFolder);
        var (_, _, output) = await RunVerbAsync(dataFolder, ["migrate"]);
        if (!output.Contains("up to date", StringComparison.Ordinal))
        {
            throw new InvalidOperationException("migrate failed: " + output);
        }

        return Path.Combine(dataFolder, "newsletter.db");
    }

    /// <summary>The floor: the same rows, already in memory as strings, into the same table, 5,000 per transaction.</summary>
    private static async Task BareInsertLoopAsync(string dbPath, int rows)
    {
        await using var c = new SqliteConnection($"Data Source={dbPath}");
        await c.OpenAsync();
        await using (var pragma = c.CreateCommand())
        {
            pragma.CommandText = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;";
            await pragma.ExecuteNonQueryAsync();
        }

        await using var insert = c.CreateCommand();
        insert.CommandText = "INSERT INTO \"Subscribers\" (\"Email\", \"EmailKey\", \"Name\", \"Status\", \"Source\", \"ConsentSource\", \"CreatedAt\", \"ConfirmedAt\", \"TokenVersion\") VALUES ($e, $k, $n, 1, 'bench', 'bench', $c, $c, 0)";
        var pe = insert.Parameters.Add("$e", SqliteType.Text);
        var pk = insert.Parameters.Add("$k", SqliteType.Text);
        var pn = insert.Parameters.Add("$n", SqliteType.Text);
        var pc = insert.Parameters.Add("$c", SqliteType.Text);
        SqliteTransaction? tx = null;
        for (var i = 0; i < rows; i++)
        {
            if (i % 5000 == 0)
            {
                if (tx is not null)
                {
                    await tx.CommitAsync();
                }

                tx = c.BeginTransaction();
                insert.Transaction = tx;
            }

            var email = string.Create(CultureInfo.InvariantCulture, $"reader{i:D7}@example{i % 97}.org");
            pe.Value = email;
            pk.Value = email;
            pn.Value = string.Create(CultureInfo.InvariantCulture, $"Reader {i}");
            pc.Value = "2025-01-01 00:00:00";
            await insert.ExecuteNonQueryAsync();
        }

        await tx!.CommitAsync();
    }

    public static async Task<(TimeSpan Elapsed, long PeakRss, string Output)> RunVerbAsync(string dataFolder, string[] verb)
    {
        var info = new ProcessStartInfo("dotnet", [Bench.WebDll, .. verb])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Bench.Root,
        };
        info.Environment["Data__Folder"] = dataFolder;
        info.Environment["Notes__ImportOnStartup"] = "false";
        info.Environment["Jobs__Storage"] = "InMemory";
        info.Environment["Logging__LogLevel__Default"] = "Warning";
        var sw = Stopwatch.StartNew();
        using var p = Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        long peak = 0;
        while (!p.HasExited)
        {
            peak = Math.Max(peak, Bench.PeakRssBytes(p.Id));
            await Task.Delay(50);
        }

        sw.Stop();
        var output = await stdout + await stderr;
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"{string.Join(' ', verb)} exited {p.ExitCode}: {output}");
        }

        return (sw.Elapsed, peak, output);
    }
}
