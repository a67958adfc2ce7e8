using System.Globalization;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Newsletter.Testing;
using Newsletter.Web.Data;
using Newsletter.Web.Data.Providers;
using Newsletter.Web.Issues;
using Newsletter.Web.Sending;
using Newsletter.Web.Subscribers;

namespace Newsletter.Tests.Sending;

/// <summary>
/// A data folder (and, on PostgreSQL, a database) for app processes that the crash tests kill and restart:
/// the schema comes from the committed migrations, readers and one issue (already due) are written straight
/// into the database, and the processes find it there on start-up, as they would after a power cut.
/// </summary>
internal sealed class SendingProcess
{
    private SendingProcess(string root, DatabaseProvider provider)
    {
        Root = root;
        Provider = provider;
        PostgresConnectionString = provider == DatabaseProvider.PostgreSql ? TestDatabases.CreateMigratedPostgres() : null;
    }

    public DatabaseProvider Provider { get; }

    public string? PostgresConnectionString { get; }

    public string Root { get; }

    public string DataFolder => Path.Combine(Root, "data");

    public string DatabaseFile => Path.Combine(DataFolder, "newsletter.db");

    public int IssueId { get; private set; }

    public int BatchSize { get; init; } = 50;

    public int Concurrency { get; init; } = 4;

    public static async Task<SendingProcess> CreateAsync(int readers, int batchSize = 50, int concurrency = 4, DatabaseProvider provider = DatabaseProvider.Sqlite)
    {
        var process = new SendingProcess(RepoPaths.TempDir("crash"), provider) { BatchSize = batchSize, Concurrency = concurrency };
        Directory.CreateDirectory(process.DataFolder);
        Directory.CreateDirectory(Path.Combine(process.Root, "notes"));
        await using var db = process.Open();
        await db.Database.MigrateAsync(TestContext.Current.CancellationToken);
        if (provider == DatabaseProvider.PostgreSql)
        {
            // One set-based statement: the same addresses, names and states as the SQLite loop below.
            await db.Database.ExecuteSqlAsync($"""
                INSERT INTO "Subscribers" ("Email", "EmailKey", "Name", "Status", "Source", "CreatedAt", "ConfirmedAt", "TokenVersion")
                SELECT 'reader' || lpad(i::text, 5, '0') || '@example.org', 'reader' || lpad(i::text, 5, '0') || '@example.org', 'Reader ' || i,
                       {(int)SubscriberStatus.Active}, 'test', now(), now(), 0
                FROM generate_series(0, {readers - 1}) AS i
                """, TestContext.Current.CancellationToken);
        }
        else
        {
            await using var tx = await db.Database.BeginTransactionAsync(TestContext.Current.CancellationToken);
            var connection = (SqliteConnection)db.Database.GetDbConnection();
            await using var insert = connection.CreateCommand();
            insert.CommandText = """
                INSERT INTO "Subscribers" ("Email", "EmailKey", "Name", "Status", "Source", "CreatedAt", "ConfirmedAt", "TokenVersion")
                VALUES ($email, $email, $name, 1, 'test', $now, $now, 0)
                """;
            var email = insert.Parameters.Add("$email", SqliteType.Text);
            var name = insert.Parameters.Add("$name", SqliteType.Text);
            insert.Parameters.AddWithValue("$now", DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture));
            for (var i = 0; i < readers; i++)
            {
                email.Value = Address(i);
                name.Value = $"Reader {i}";
                await insert.ExecuteNonQueryAsync(TestContext.Current.CancellationToken);
            }

            await tx.CommitAsync(TestContext.Current.CancellationToken);
        }

        var issue = new Issue
        {
            Subject = "What a crash can do to a send",
            Slug = "what-a-crash-can-do-to-a-send",
            Preheader = "Nothing lost, every duplicate counted.",
            Markdown = "Hello.",
            Html = "<p>" + string.Concat(Enumerable.Repeat("A ledger row per reader, a lease per batch. ", 40)) + "</p>",
            PlainText = string.Concat(Enumerable.Repeat("A ledger row per reader, a lease per batch. ", 40)),
            Status = IssueStatus.Scheduled,
            ScheduledAt = DateTime.UtcNow.AddSeconds(-1),
        };
        db.Issues.Add(issue);
        await db.SaveChangesAsync(TestContext.Current.CancellationToken);
        process.IssueId = issue.Id;
        return process;
    }

    public static string Address(int i) => $"reader{i:D5}@example.org";

    /// <summary>Settings for an app process that sends into <paramref name="smtp"/> and recovers quickly after a kill.</summary>
    public Dictionary<string, string> Environment(SmtpServer smtp) => new(smtp.AppSettings.Select(s => KeyValuePair.Create(s.Key.Replace(":", "__", StringComparison.Ordinal), s.Value!)))
    {
        ["Sending__BatchSize"] = BatchSize.ToString(CultureInfo.InvariantCulture),
        ["Sending__Concurrency"] = Concurrency.ToString(CultureInfo.InvariantCulture),
        // Long on purpose: a killed node's batch must come back because the living see it is dead (its process
        // is gone, or its heartbeat stopped), not because its lease ran out. A test that waited for the lease
        // would not finish in time.
        ["Sending__LeaseDuration"] = "00:05:00",
        ["Sending__NodeTimeout"] = "00:00:10",
        ["Sending__ReconcileInterval"] = "00:00:03",
        ["Jobs__WorkerCount"] = (Concurrency + 2).ToString(CultureInfo.InvariantCulture),
        // Locks and fetched jobs of a killed process free themselves after these.
        ["Jobs__Sqlite__InvisibilityTimeout"] = "00:00:10",
        ["Jobs__Sqlite__DistributedLockLifetime"] = "00:00:05",
        ["Jobs__Sqlite__QueuePollInterval"] = "00:00:00.200",
        ["Database__Provider"] = Provider.ToString(),
        ["Database__ConnectionString"] = PostgresConnectionString ?? "",
    };

    public AppProcess App(SmtpServer smtp) => new(Environment(smtp), sampleNotes: false, root: Root);

    public AppDbContext Open()
    {
        var options = new DbContextOptionsBuilder<AppDbContext>();
        options.UseDatabase(Provider, PostgresConnectionString ?? new SqliteConnectionStringBuilder { DataSource = DatabaseFile, Pooling = false, DefaultTimeout = 30 }.ToString());
        return new AppDbContext(options.Options);
    }

    public async Task<Issue> IssueAsync()
    {
        await using var db = Open();
        return await db.Issues.AsNoTracking().SingleAsync(i => i.Id == IssueId, TestContext.Current.CancellationToken);
    }

    public async Task<List<Delivery>> DeliveriesAsync()
    {
        await using var db = Open();
        return await db.Deliveries.AsNoTracking().Where(d => d.IssueId == IssueId).ToListAsync(TestContext.Current.CancellationToken);
    }

    public async Task<Dictionary<long, string>> AddressesAsync()
    {
        await using var db = Open();
        return await db.Subscribers.AsNoTracking().ToDictionaryAsync(s => s.Id, s => s.EmailKey, TestContext.Current.CancellationToken);
    }

    /// <summary>Waits until the issue is Sent; on timeout says where the ledger stands and what the apps logged.</summary>
    public async Task<Issue> WaitUntilSentAsync(TimeSpan timeout, params AppProcess[] apps)
    {
        var deadline = DateTime.UtcNow + timeout;
        var sentAtDeadline = -1;
        while (true)
        {
            var issue = await IssueAsync();
            if (issue.Status == IssueStatus.Sent)
            {
                return issue;
            }

            if (DateTime.UtcNow > deadline && apps.Any(a => !a.HasExited)
                && (await DeliveriesAsync()).Count(d => d.Status == DeliveryStatus.Sent) is var sent && sent > sentAtDeadline)
            {
                // Still moving at the deadline: a loaded machine (load 34 on two cores sent 37 a second), not a
                // stall. A minute more each time it has moved; a send that stands still for one fails.
                sentAtDeadline = sent;
                deadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
            }

            if (DateTime.UtcNow > deadline || apps.Length > 0 && apps.All(a => a.HasExited))
            {
                var counts = (await DeliveriesAsync()).GroupBy(d => d.Status).Select(g => $"{g.Key}={g.Count()}");
                throw new TimeoutException($"Issue {IssueId} is {issue.Status} ({issue.PausedReason}); ledger {string.Join(", ", counts)}.\n"
                    + string.Join("\n---\n", apps.Select(a => a.Log[^Math.Min(a.Log.Length, 6000)..])));
            }

            await Task.Delay(250, TestContext.Current.CancellationToken);
        }
    }

    /// <summary>
    /// Waits until the server holds <paramref name="count"/> messages. It fails when none arrived for two minutes
    /// or every app has exited, not after a fixed time: under a CPU burner a send that moves can take longer than
    /// any fixed bound (4,507 of 4,800 in two minutes at load 34), and only one that stands still is a failure.
    /// </summary>
    public static async Task WaitForMessagesAsync(SmtpServer smtp, int count, params AppProcess[] apps)
    {
        var seen = smtp.Count;
        var movedAt = DateTime.UtcNow;
        while (smtp.Count < count)
        {
            if (smtp.Count != seen)
            {
                (seen, movedAt) = (smtp.Count, DateTime.UtcNow);
            }

            if (apps.All(a => a.HasExited) || DateTime.UtcNow - movedAt > TimeSpan.FromMinutes(2))
            {
                throw new TimeoutException($"The SMTP server has {smtp.Count} of {count} messages, none new for {(DateTime.UtcNow - movedAt).TotalSeconds:F0} s.\n"
                    + string.Join("\n----\n", apps.Select(a => a.Log[^Math.Min(a.Log.Length, 4000)..])));
            }

            await Task.Delay(5, TestContext.Current.CancellationToken);
        }
    }

    /// <summary>How many copies each envelope recipient got, from the server's own records.</summary>
    public static Dictionary<string, int> CopiesByRecipient(SmtpServer smtp)
    {
        var copies = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        // NNNNNN.json beside each NNNNNN.eml; rules.json lives in the same folder.
        foreach (var meta in Directory.GetFiles(smtp.Folder, "*.json").Where(f => Path.GetFileNameWithoutExtension(f).All(char.IsAsciiDigit)))
        {
            using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(meta));
            foreach (var to in json.RootElement.GetProperty("rcpt_tos").EnumerateArray())
            {
                var key = to.GetString()!;
                copies[key] = copies.GetValueOrDefault(key) + 1;
            }
        }

        return copies;
    }
}
