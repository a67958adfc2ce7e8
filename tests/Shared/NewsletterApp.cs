#if NEWSLETTER_WEB
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Newsletter.Web.Data.Providers;

namespace Newsletter.Testing;

/// <summary>
/// A fresh app per test: its own data folder (SQLite file, keys, pickup folder), its own notes folder and,
/// on PostgreSQL, its own database, so no test sees another's data. The database is
/// <see cref="TestDatabases.Default"/> unless the test names a provider, or sets Database:Provider itself.
/// Settings go in as host settings, which the app reads while it builds, exactly like appsettings.json
/// values or environment variables would be.
/// </summary>
public class NewsletterApp : WebApplicationFactory<Program>
{
    private readonly Dictionary<string, string?> _settings;
    private bool _logWritten;

    public NewsletterApp(Dictionary<string, string?>? settings = null, bool sampleNotes = false, DatabaseProvider? provider = null)
    {
        Root = RepoPaths.TempDir("app");
        DataFolder = Path.Combine(Root, "data");
        NotesFolder = Path.Combine(Root, "notes");
        Directory.CreateDirectory(NotesFolder);
        if (sampleNotes)
        {
            foreach (var file in Directory.GetFiles(Path.Combine(RepoPaths.Root, "notes"), "*.md"))
            {
                File.Copy(file, Path.Combine(NotesFolder, Path.GetFileName(file)));
            }
        }

        _settings = new Dictionary<string, string?>
        {
            ["Data:Folder"] = DataFolder,
            ["Notes:Folder"] = NotesFolder,
            // The app's own default, the SQLite job storage, in a file of this test's data folder.
            ["Jobs:Storage"] = "Sqlite",
            ["Jobs:WorkerCount"] = "2",
            ["Site:BaseUrl"] = "http://localhost",
            ["Mail:Transport"] = "Pickup",
        };
        if (settings?.ContainsKey("Database:Provider") != true && (provider ?? TestDatabases.Default) == DatabaseProvider.PostgreSql)
        {
            PostgresConnectionString = TestDatabases.CreateMigratedPostgres();
            _settings["Database:Provider"] = "PostgreSql";
            _settings["Database:ConnectionString"] = PostgresConnectionString;
        }

        foreach (var (k, v) in settings ?? [])
        {
            _settings[k] = v;
        }
    }

    /// <summary>
    /// Settings for a second app that shares this one's data, as a second node does: the same data folder and,
    /// on PostgreSQL, the same database (which this app keeps and drops).
    /// </summary>
    public Dictionary<string, string?> SecondNode(Dictionary<string, string?>? extra = null)
    {
        var settings = new Dictionary<string, string?>(extra ?? []) { ["Data:Folder"] = DataFolder };
        if (PostgresConnectionString is { } postgres)
        {
            settings["Database:Provider"] = "PostgreSql";
            settings["Database:ConnectionString"] = postgres;
        }

        return settings;
    }

    /// <summary>The app's own PostgreSQL database, or null when it runs on SQLite.</summary>
    public string? PostgresConnectionString { get; }

    public string Root { get; }

    public string DataFolder { get; }

    public string NotesFolder { get; }

    public string PickupFolder => Path.Combine(DataFolder, "outbox");

    /// <summary>What a suppression of <paramref name="email"/> holds in this installation (a keyed hash).</summary>
    public string AddressHash(string email) => Services.GetRequiredService<Newsletter.Web.Subscribers.AddressHashes>().Of(email);

    /// <summary>Warnings and errors the app logged; put it in assertion messages so a failure says why.</summary>
    public ServerLog ServerLog { get; } = new();

    public void WriteNote(string fileName, string content) => File.WriteAllText(Path.Combine(NotesFolder, fileName), content);

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Testing");
        builder.UseSetting("hostBuilder:reloadConfigOnChange", "false");
        foreach (var (k, v) in _settings)
        {
            builder.UseSetting(k, v);
        }

        builder.ConfigureLogging(logging => logging.AddProvider(ServerLog));
    }

    /// <summary>Waits for a mail in this app's pickup folder; on timeout, says what Hangfire did instead.</summary>
    public async Task<MimeKit.MimeMessage> WaitForMailAsync(string to, Func<MimeKit.MimeMessage, bool>? match = null, int count = 1)
    {
        try
        {
            return await Outbox.WaitForAsync(PickupFolder, to, match, count);
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException(e.Message + " Jobs: " + JobDiagnostics() + Environment.NewLine + "Server log:" + Environment.NewLine + ServerLog, e);
        }
    }

    public string JobDiagnostics()
    {
        var monitor = Services.GetRequiredService<global::Hangfire.JobStorage>().GetMonitoringApi();
        var failed = monitor.FailedJobs(0, 20).Select(f => $"FAILED {f.Value.Job?.Type.Name}.{f.Value.Job?.Method.Name}: {f.Value.ExceptionMessage}");
        var scheduled = monitor.ScheduledJobs(0, 20).Select(f => $"SCHEDULED {f.Value.Job?.Type.Name}.{f.Value.Job?.Method.Name} at {f.Value.EnqueueAt:O} after "
            + string.Join(";", monitor.JobDetails(f.Key)?.History.Where(h => h.StateName == "Failed").Select(h => Get(h.Data, "ExceptionType") + ": " + Get(h.Data, "ExceptionMessage") + " " + Get(h.Data, "ExceptionDetails")[..Math.Min(1500, Get(h.Data, "ExceptionDetails").Length)]) ?? []));
        var processing = monitor.ProcessingJobs(0, 20).Select(f => $"PROCESSING {f.Value.Job?.Type.Name}.{f.Value.Job?.Method.Name} since {f.Value.StartedAt:O}");
        var succeeded = monitor.SucceededJobs(0, 50).Select(f => $"OK {f.Value.Job?.Type.Name}.{f.Value.Job?.Method.Name}({string.Join(",", f.Value.Job?.Args.Take(1) ?? [])})");
        using var scope = Services.CreateScope();
        var db = scope.ServiceProvider.GetRequiredService<Newsletter.Web.Data.AppDbContext>();
        var rows = db.Subscribers.Select(x => $"SUB {x.Id} {x.EmailKey} {x.Status}").Take(10).ToList();
        succeeded = succeeded.Concat(rows);
        var enqueued = monitor.Queues().Select(q => $"QUEUE {q.Name}: {q.Length}");
        return string.Join(" | ", failed.Concat(scheduled).Concat(processing).Concat(enqueued).Concat(succeeded));
    }

    private static string Get(IDictionary<string, string> data, string key) => data.TryGetValue(key, out var v) ? v ?? "" : "";

    public HttpClient CreateBrowserClient() => CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            // xunit shows a test's output when it fails: the server's side of the story goes with it.
            if (ServerLog.Entries.Count > 0 && !_logWritten)
            {
                _logWritten = true;
                TestContext.Current.TestOutputHelper?.WriteLine("Server log:" + Environment.NewLine + ServerLog);
            }

            if (PostgresConnectionString is not null)
            {
                TestDatabases.Drop(PostgresConnectionString);
            }

            try
            {
                Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
                Directory.Delete(Root, recursive: true);
            }
            catch (IOException)
            {
                // A file still held by a finishing background job; the temp folder is cleaned by the OS.
            }
        }
    }
}
#endif
