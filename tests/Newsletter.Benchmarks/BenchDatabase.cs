using Microsoft.Extensions.Configuration;
using System.Globalization;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Newsletter.Testing;
using Newsletter.Web.Data;
using Newsletter.Web.Data.Providers;
using Npgsql;

namespace Newsletter.Benchmarks;

/// <summary>
/// One benchmark's database: a SQLite file in its data folder, or a database of its own on a throwaway PostgreSQL
/// cluster (tests/Shared/PostgresServer.cs: initdb and pg_ctl on a free loopback port, <b>fsync, synchronous_commit
/// and full_page_writes off</b>, so PostgreSQL figures are without the cost of a durable commit; SQLite's are with
/// the app's own pragmas). The cluster is started on first use and stopped when the benchmark process ends.
/// </summary>
internal sealed class BenchDatabase
{
    private static readonly Lazy<PostgresServer> Cluster = new(StartCluster);
    private static int _next;

    private BenchDatabase(DatabaseProvider provider, string dataFolder, string connectionString)
    {
        Provider = provider;
        DataFolder = dataFolder;
        ConnectionString = connectionString;
    }

    public DatabaseProvider Provider { get; }

    /// <summary>The installation's address hashes, with the key kept in this database as the app keeps it.</summary>
    public Newsletter.Web.Subscribers.AddressHashes Hashes()
    {
        var configuration = new Microsoft.Extensions.Configuration.ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["Data:Folder"] = DataFolder }).Build();
        return new(new Newsletter.Web.Infrastructure.InstallationKeys(() => { var db = Open(); return (db, db); }, new Newsletter.Web.Infrastructure.AppPaths(DataFolder, configuration)));
    }

    /// <summary>The app's data folder (keys, pickup, and on SQLite the database and the job store).</summary>
    public string DataFolder { get; }

    public string ConnectionString { get; }

    public string Name => Provider == DatabaseProvider.PostgreSql ? "PostgreSQL" : "SQLite";

    /// <summary>Where the data is, for the benchmark's first line.</summary>
    public string Where => Provider == DatabaseProvider.PostgreSql
        ? $"PostgreSQL {new NpgsqlConnectionStringBuilder(ConnectionString).Database} on 127.0.0.1:{Cluster.Value.Port}, fsync off"
        : $"SQLite {Path.Combine(DataFolder, "newsletter.db")}";

    /// <summary>--provider Sqlite|PostgreSql|both (Sqlite when absent): the databases to run on, SQLite first.</summary>
    public static IReadOnlyList<DatabaseProvider> Providers(string[] args)
    {
        var i = Array.IndexOf(args, "--provider");
        var value = i >= 0 && i + 1 < args.Length ? args[i + 1].Trim().ToLowerInvariant() : "sqlite";
        return value switch
        {
            "sqlite" => [DatabaseProvider.Sqlite],
            "postgresql" or "postgres" => [DatabaseProvider.PostgreSql],
            "both" => [DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql],
            _ => throw new ArgumentException($"--provider '{args[i + 1]}': use Sqlite, PostgreSql or both."),
        };
    }

    /// <summary>A fresh, empty database (and data folder) for one run.</summary>
    public static BenchDatabase Create(DatabaseProvider provider, string dataFolder)
    {
        Directory.CreateDirectory(dataFolder);
        if (provider == DatabaseProvider.PostgreSql)
        {
            var name = $"bench_{Environment.ProcessId}_{Interlocked.Increment(ref _next)}";
            // Pooling off: the benchmark's own few connections should not stay open beside the app's.
            return new BenchDatabase(provider, dataFolder, Cluster.Value.CreateDatabase(name).Replace("Pooling=true", "Pooling=false", StringComparison.Ordinal));
        }

        var file = new SqliteConnectionStringBuilder { DataSource = Path.Combine(dataFolder, "newsletter.db"), Pooling = false, DefaultTimeout = 60 }.ToString();
        return new BenchDatabase(provider, dataFolder, file);
    }

    /// <summary>
    /// The app's settings for this database. On PostgreSQL the jobs go there too (Hangfire.PostgreSql): the root
    /// appsettings.json names Jobs:Storage=Sqlite, which would otherwise win over "jobs follow the database".
    /// </summary>
    public Dictionary<string, string> AppSettings() => Provider == DatabaseProvider.PostgreSql
        ? new()
        {
            ["Database__Provider"] = "PostgreSql",
            ["Database__ConnectionString"] = ConnectionString.Replace("Pooling=false", "Pooling=true", StringComparison.Ordinal),
            ["Jobs__Storage"] = "PostgreSql",
        }
        : new() { ["Database__Provider"] = "Sqlite" };

    public AppDbContext Open()
    {
        var options = new DbContextOptionsBuilder<AppDbContext>();
        options.UseDatabase(Provider, ConnectionString);
        return new AppDbContext(options.Options);
    }

    public async Task MigrateAsync()
    {
        await using var db = Open();
        await db.Database.MigrateAsync();
    }

    /// <summary>
    /// <paramref name="readers"/> active subscribers, reader0000000@example.org and up: on PostgreSQL one
    /// INSERT ... SELECT over generate_series, on SQLite a prepared insert in one transaction.
    /// </summary>
    public async Task SeedReadersAsync(int readers)
    {
        await using var db = Open();
        db.Database.SetCommandTimeout(TimeSpan.FromMinutes(10));
        if (Provider == DatabaseProvider.PostgreSql)
        {
            await db.Database.ExecuteSqlAsync($"""
                INSERT INTO "Subscribers" ("Email", "EmailKey", "Name", "Status", "Source", "CreatedAt", "ConfirmedAt", "TokenVersion")
                SELECT 'reader' || lpad(i::text, 7, '0') || '@example.org', 'reader' || lpad(i::text, 7, '0') || '@example.org', 'Reader ' || i,
                       {(int)Web.Subscribers.SubscriberStatus.Active}, 'bench', now(), now(), 0
                FROM generate_series(0, {readers - 1}) AS i
                """);
            // Fresh statistics, as autovacuum would have them on a list that grew over time.
            await db.Database.ExecuteSqlRawAsync("""ANALYZE "Subscribers" """);
            return;
        }

        var connection = (SqliteConnection)db.Database.GetDbConnection();
        await db.Database.OpenConnectionAsync();
        await using var tx = (SqliteTransaction)await connection.BeginTransactionAsync();
        await using var insert = connection.CreateCommand();
        insert.Transaction = tx;
        insert.CommandText = """
            INSERT INTO "Subscribers" ("Email", "EmailKey", "Name", "Status", "Source", "CreatedAt", "ConfirmedAt", "TokenVersion")
            VALUES ($email, $email, $name, $active, 'bench', $now, $now, 0)
            """;
        var email = insert.Parameters.Add("$email", SqliteType.Text);
        var name = insert.Parameters.Add("$name", SqliteType.Text);
        insert.Parameters.AddWithValue("$active", (int)Web.Subscribers.SubscriberStatus.Active);
        insert.Parameters.AddWithValue("$now", DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture));
        insert.Prepare();
        for (var i = 0; i < readers; i++)
        {
            email.Value = $"reader{i:D7}@example.org";
            name.Value = $"Reader {i}";
            await insert.ExecuteNonQueryAsync();
        }

        await tx.CommitAsync();
    }

    /// <summary>CPU seconds (user plus system) of the whole PostgreSQL cluster so far, its exited backends included; null on SQLite.</summary>
    public static double? ClusterCpuSeconds()
    {
        if (!Cluster.IsValueCreated)
        {
            return null;
        }

        return ServerCpuSeconds(Path.Combine(Cluster.Value.Folder, "data"));
    }

    /// <summary>
    /// CPU seconds (user plus system) so far of the PostgreSQL server whose data directory is <paramref name="dataDirectory"/>,
    /// on this machine; null when its postmaster.pid can't be read (a server elsewhere, or another user's).
    /// </summary>
    public static double? ServerCpuSeconds(string dataDirectory)
    {
        // The postmaster's own time plus what its children that have exited used (cutime, cstime), plus live children.
        var pidFile = Path.Combine(dataDirectory, "postmaster.pid");
        if (!File.Exists(pidFile))
        {
            return null;
        }

        var postmaster = int.Parse(File.ReadLines(pidFile).First(), CultureInfo.InvariantCulture);
        double total = 0;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }

            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                var parent = int.Parse(fields[1], CultureInfo.InvariantCulture);
                if (pid == postmaster || parent == postmaster)
                {
                    total += long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
                    if (pid == postmaster)
                    {
                        total += long.Parse(fields[13], CultureInfo.InvariantCulture) + long.Parse(fields[14], CultureInfo.InvariantCulture);
                    }
                }
            }
            catch (IOException)
            {
                // the process ended while we looked
            }
        }

        return total / 100.0;
    }

    private static PostgresServer StartCluster()
    {
        var server = PostgresServer.Start();
        AppDomain.CurrentDomain.ProcessExit += (_, _) => server.Dispose();
        return server;
    }
}
