using System.Diagnostics;
using System.Globalization;
using Npgsql;

namespace Newsletter.Benchmarks.Subscribers;

/// <summary>
/// The import benchmark on PostgreSQL: the same generated CSV through the app's `import-subscribers` verb, and,
/// side by side, a bare COPY of the same file (CSV format, through Npgsql) into a plain table of four text
/// columns with no index, the fastest way PostgreSQL takes these rows. Each round gets fresh databases on the
/// server the connection string names (its user must be allowed to create databases). Afterwards the
/// subscriber counts the triggers keep and the tag rows are checked against the file. Goal: ratio >= 0.6.
/// Usage: dotnet run -c Release --project tests/Newsletter.Benchmarks -- import [rows=1000000] [rounds=2]
///        --provider PostgreSql --connection "Host=127.0.0.1;Port=5432;Username=postgres"
/// </summary>
internal static class PostgresImportBenchmark
{
    private const double RatioGoal = 0.6;

    public static async Task<int> RunAsync(string[] args)
    {
        string? Option(string name) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault();
        if (!string.Equals(Option("--provider"), "PostgreSql", StringComparison.OrdinalIgnoreCase) || Option("--connection") is not { } server)
        {
            Console.Error.WriteLine("import on PostgreSQL needs --provider PostgreSql --connection \"Host=...;Username=...\"");
            return 2;
        }

        var numbers = args.TakeWhile(a => !a.StartsWith("--", StringComparison.Ordinal)).ToArray();
        var rows = numbers.Length > 0 ? int.Parse(numbers[0], CultureInfo.InvariantCulture) : 1_000_000;
        var rounds = numbers.Length > 1 ? int.Parse(numbers[1], CultureInfo.InvariantCulture) : 2;
        Loopback.WarnIfDebug();
        var dir = Bench.Temp("import-pg");
        var csv = Path.Combine(dir, "subscribers.csv");
        await ImportBenchmark.GenerateAsync(csv, rows);
        Console.WriteLine($"Generated {rows:N0} rows ({new FileInfo(csv).Length / 1024 / 1024} MB) in {csv}");
        var dataDirectory = await DataDirectoryAsync(server);
        double ServerCpu() => dataDirectory is null ? double.NaN : BenchDatabase.ServerCpuSeconds(dataDirectory) ?? double.NaN;
        Console.WriteLine($"{"round",5} {"bare COPY rows/s",17} {"import rows/s",14} {"ratio",6} {"import peak RSS",16} {"COPY CPU server+client",23} {"import CPU server+client",24} {"COPY into Subscribers rows/s",29} {"ratio",6}  load");
        var ratios = new List<double>();
        var tableRatios = new List<double>();
        for (var round = 1; round <= rounds; round++)
        {
            var bare = await CreateDatabaseAsync(server, $"bench_copy_{Environment.ProcessId}_{round}");
            var ours = await CreateDatabaseAsync(server, $"bench_import_{Environment.ProcessId}_{round}");
            var table = await CreateDatabaseAsync(server, $"bench_table_{Environment.ProcessId}_{round}");
            try
            {
                var (serverBefore, clientBefore) = (ServerCpu(), Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds);
                var copyElapsed = await BareCopyAsync(bare, csv);
                var (copyServer, copyClient) = (ServerCpu() - serverBefore, Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds - clientBefore);
                var environment = new Dictionary<string, string> { ["Database__Provider"] = "PostgreSql", ["Database__ConnectionString"] = ours };
                var folder = Path.Combine(dir, $"ours-{round}");
                Directory.CreateDirectory(folder);
                var tableFolder = Path.Combine(dir, $"table-{round}");
                Directory.CreateDirectory(tableFolder);
                await ImportBenchmark.RunVerbWithCpuAsync(tableFolder, ["migrate"], new Dictionary<string, string> { ["Database__Provider"] = "PostgreSql", ["Database__ConnectionString"] = table });
                var tableElapsed = await CopyIntoSubscribersAsync(table, csv);
                var (_, _, migrated, _) = await ImportBenchmark.RunVerbWithCpuAsync(folder, ["migrate"], environment);
                if (!migrated.Contains("up to date", StringComparison.Ordinal))
                {
                    throw new InvalidOperationException("migrate failed: " + migrated);
                }

                // The client's CPU is the importer process's less a no-op verb's (its start-up), as the SQLite benchmark takes it.
                var (_, _, _, idleCpu) = await ImportBenchmark.RunVerbWithCpuAsync(folder, ["migrate"], environment);
                serverBefore = ServerCpu();
                var (_, peak, output, importCpu) = await ImportBenchmark.RunVerbWithCpuAsync(folder, ["import-subscribers", csv, "--active", "--consent", "benchmark"], environment);
                var importServer = ServerCpu() - serverBefore;
                if (!output.Contains($"{rows:N0} imported", StringComparison.Ordinal))
                {
                    throw new InvalidOperationException("The import did not import every row: " + output);
                }

                await CheckAsync(ours, rows);
                var took = double.Parse(System.Text.RegularExpressions.Regex.Match(output, @"Took ([\d.]+) s").Groups[1].Value, CultureInfo.InvariantCulture);
                var copyRate = rows / copyElapsed.TotalSeconds;
                var ourRate = rows / took;
                ratios.Add(ourRate / copyRate);
                var tableRate = rows / tableElapsed.TotalSeconds;
                tableRatios.Add(ourRate / tableRate);
                Console.WriteLine($"{round,5} {copyRate,17:N0} {ourRate,14:N0} {ourRate / copyRate,6:F2} {peak / 1024.0 / 1024.0,13:F0} MB {copyServer,11:F2} + {copyClient,5:F2} s {importServer,11:F2} + {(importCpu - idleCpu).TotalSeconds,5:F2} s {tableRate,29:N0} {ourRate / tableRate,6:F2}  {Bench.LoadAverage}");
            }
            finally
            {
                await DropDatabaseAsync(server, bare);
                await DropDatabaseAsync(server, ours);
                await DropDatabaseAsync(server, table);
            }
        }

        var median = Loopback.Median(ratios);
        Console.WriteLine();
        Console.WriteLine("bare COPY: the CSV file as it is, COPY ... FROM STDIN (FORMAT csv, HEADER) into four text columns, no index, one transaction");
        Console.WriteLine("import-subscribers: stream and parse the CSV, validate and normalise each address, hash it, binary COPY to a staging table, merge (dedupe, suppressions, tags) per 50,000 rows");
        Console.WriteLine("COPY into Subscribers: the file's rows as CSV (address as key, status, source, date) into the app's own table, with its indexes and count trigger, one transaction; no tags, no history");
        Console.WriteLine($"ratio import/COPY into Subscribers: median {Loopback.Median(tableRatios):F2} (a second baseline, for what the table itself costs)");
        Console.WriteLine($"ratio import/bare COPY: median {median:F2} over {rounds} rounds (goal >= {RatioGoal:F2}) -> {(median >= RatioGoal ? "met" : "NOT MET")}");
        return median >= RatioGoal ? 0 : 1;
    }

    /// <summary>
    /// The second baseline: the file's rows through a text COPY straight into the migrated "Subscribers", so the table's
    /// own costs (heap, indexes, the count trigger) are in it and the importer's work on the way (validation, the hash,
    /// dedupe, suppressions, tags, history) is not. The generated file has no quoted fields, so a split on commas reads it.
    /// </summary>
    private static async Task<TimeSpan> CopyIntoSubscribersAsync(string connectionString, string csv)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        var clock = Stopwatch.StartNew();
        using (var file = new StreamReader(csv, System.Text.Encoding.UTF8, false, 1 << 16))
        await using (var copy = await connection.BeginTextImportAsync("""
            COPY "Subscribers" ("Email", "EmailKey", "Name", "Status", "Source", "CreatedAt", "TokenVersion") FROM STDIN (FORMAT csv)
            """))
        {
            await file.ReadLineAsync();
            while (await file.ReadLineAsync() is { } line)
            {
                var f = line.Split(',');
                await copy.WriteLineAsync($"{f[0]},{f[0]},{f[1]},1,import,{f[3]},0");
            }
        }

        return clock.Elapsed;
    }

    /// <summary>The server's data directory when the connection may read it (a superuser), to take its CPU from /proc.</summary>
    private static async Task<string?> DataDirectoryAsync(string server)
    {
        try
        {
            await using var connection = new NpgsqlConnection(server);
            await connection.OpenAsync();
            await using var show = new NpgsqlCommand("SHOW data_directory", connection);
            return (string?)await show.ExecuteScalarAsync();
        }
        catch (PostgresException)
        {
            return null;
        }
    }

    private static async Task<TimeSpan> BareCopyAsync(string connectionString, string csv)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using (var create = new NpgsqlCommand("CREATE TABLE bare (email text, name text, tags text, subscribed text)", connection))
        {
            await create.ExecuteNonQueryAsync();
        }

        var clock = Stopwatch.StartNew();
        using (var file = new StreamReader(csv, System.Text.Encoding.UTF8, false, 1 << 16))
        await using (var copy = await connection.BeginTextImportAsync("COPY bare FROM STDIN (FORMAT csv, HEADER true)"))
        {
            var buffer = new char[1 << 16];
            int read;
            while ((read = await file.ReadAsync(buffer)) > 0)
            {
                await copy.WriteAsync(buffer.AsMemory(0, read));
            }
        }

        return clock.Elapsed;
    }

    /// <summary>What the import must leave: every reader, the status count its triggers keep, a tag on every third row.</summary>
    private static async Task CheckAsync(string connectionString, int rows)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var check = new NpgsqlCommand("""
            SELECT (SELECT count(*) FROM "Subscribers"), (SELECT coalesce(sum("Count"), 0) FROM "SubscriberCounts"), (SELECT count(*) FROM "SubscriberTags")
            """, connection);
        await using var reader = await check.ExecuteReaderAsync();
        await reader.ReadAsync();
        var (readers, counted, tags) = (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2));
        if (readers != rows || counted != rows || tags != (rows + 2) / 3)
        {
            throw new InvalidOperationException($"After the import: {readers} readers, {counted} in SubscriberCounts, {tags} tag rows; expected {rows}, {rows}, {(rows + 2) / 3}.");
        }
    }

    private static async Task<string> CreateDatabaseAsync(string server, string name)
    {
        await using var connection = new NpgsqlConnection(server);
        await connection.OpenAsync();
        await using var create = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
        await create.ExecuteNonQueryAsync();
        return new NpgsqlConnectionStringBuilder(server) { Database = name }.ConnectionString;
    }

    private static async Task DropDatabaseAsync(string server, string database)
    {
        NpgsqlConnection.ClearAllPools();
        await using var connection = new NpgsqlConnection(server);
        await connection.OpenAsync();
        await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{new NpgsqlConnectionStringBuilder(database).Database}\" WITH (FORCE)", connection);
        await drop.ExecuteNonQueryAsync();
    }
}
