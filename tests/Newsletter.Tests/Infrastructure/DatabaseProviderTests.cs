using System.Net;
using Hangfire;
using Hangfire.PostgreSql;
using Microsoft.AspNetCore.Mvc.Testing.Handlers;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Hangfire.Sqlite;
using Newsletter.Testing;
using Newsletter.Web.Data;
using Newsletter.Web.Data.Providers;
using Newsletter.Web.Infrastructure;
using Newsletter.Web.Subscribers;

namespace Newsletter.Tests.Infrastructure;

/// <summary>Database:Provider and Database:ConnectionString: what starts, what stops the start, and with which sentence.</summary>
public class DatabaseProviderTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A provider the app cannot use stops the start with a sentence, not a SQLite file in its place.</summary>
    [Theory]
    [InlineData("SqlServer")]
    [InlineData("MySql")]
    public void AnUnsupportedDatabaseProviderStopsTheStartAndSaysWhy(string provider)
    {
        using var app = new NewsletterApp(new() { ["Database:Provider"] = provider });
        var error = Assert.Throws<Newsletter.Mail.SettingsException>(() => app.CreateClient());
        Assert.Contains($"Database:Provider '{provider}' is not supported", error.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(app.DataFolder, "newsletter.db")));
    }

    /// <summary>
    /// Settings that made every email fail in its job, or every time shown wrong, stop the start with a sentence
    /// naming the setting: before, the site said "check your inbox", the health check said Healthy, and the mail
    /// jobs failed and retried (an unknown transport, a title with a line break); an unknown zone showed UTC times
    /// labelled with the typed name.
    /// </summary>
    [Theory]
    [InlineData("Mail:Transport", "Carrier", "Mail:Transport 'Carrier' is not 'Pickup' or 'Smtp'")]
    [InlineData("Site:TimeZone", "Europe/Berln", "Site:TimeZone 'Europe/Berln' is not a time zone this machine knows")]
    [InlineData("Site:Title", "Field Notes\r\nBcc: victim@example.org", "Site:Title holds a line break")]
    [InlineData("Site:AuthorName", "Ann\u2028Lee", "Site:AuthorName holds a line break")]
    public void ASettingThatWouldBreakEveryEmailOrTimeStopsTheStartAndSaysWhy(string key, string value, string says)
    {
        using var app = new NewsletterApp(new() { [key] = value });
        var error = Assert.ThrowsAny<Exception>(() => app.CreateClient());
        Assert.Contains(says, error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheSqliteProviderNamedInAnyCaseStarts()
    {
        using var app = new NewsletterApp(new() { ["Database:Provider"] = "sqlite" });
        Assert.Equal(HttpStatusCode.OK, (await app.CreateClient().GetAsync("/", Ct)).StatusCode);
        Assert.True(File.Exists(Path.Combine(app.DataFolder, "newsletter.db")));
    }

    /// <summary>A fresh, empty database gets its schema from the PostgreSQL migrations at start.</summary>
    [Theory]
    [InlineData("PostgreSql")]
    [InlineData("postgres")]
    public async Task ThePostgreSqlProviderNamedEitherWayMigratesAnEmptyDatabaseAndStarts(string provider)
    {
        var connectionString = TestDatabases.CreateEmptyPostgres();
        try
        {
            using var app = new NewsletterApp(new() { ["Database:Provider"] = provider, ["Database:ConnectionString"] = connectionString });
            Assert.Equal(HttpStatusCode.OK, (await app.CreateClient().GetAsync("/", Ct)).StatusCode);
            await using var scope = app.Services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            Assert.True(db.Database.IsNpgsql());
            Assert.Empty(await db.Database.GetPendingMigrationsAsync(Ct));
            Assert.False(File.Exists(Path.Combine(app.DataFolder, "newsletter.db")));
        }
        finally
        {
            TestDatabases.Drop(connectionString);
        }
    }

    /// <summary>
    /// The app's PostgreSQL connections prepare a statement they run again and again (the server then plans it
    /// once per connection), unless the connection string says otherwise, as it must behind a pooler that
    /// can't keep prepared statements.
    /// </summary>
    [Theory]
    [InlineData("", true)]
    [InlineData(";Max Auto Prepare=0", false)]
    [InlineData(";maxautoprepare=0", false)]
    public async Task PostgreSqlConnectionsPrepareWhatTheyRunOftenUnlessTheConnectionStringSaysNot(string extra, bool prepared)
    {
        var connectionString = TestDatabases.CreateEmptyPostgres();
        try
        {
            using var app = new NewsletterApp(new() { ["Database:Provider"] = "PostgreSql", ["Database:ConnectionString"] = connectionString + extra });
            Assert.Equal(HttpStatusCode.OK, (await app.CreateClient().GetAsync("/", Ct)).StatusCode);
            await using var scope = app.Services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            await db.Database.OpenConnectionAsync(Ct);
            for (var i = 0; i < 10; i++)
            {
                await db.Subscribers.AsNoTracking().Where(s => s.EmailKey == $"nobody{i}@example.org").FirstOrDefaultAsync(Ct);
            }

            var count = await db.Database.SqlQuery<long>($"SELECT count(*) AS \"Value\" FROM pg_prepared_statements WHERE statement LIKE '%FROM \"Subscribers\"%'").SingleAsync(Ct);
            Assert.Equal(prepared, count > 0);
        }
        finally
        {
            TestDatabases.Drop(connectionString);
        }
    }

    [Fact]
    public void PostgreSqlWithoutAConnectionStringStopsTheStartAndNamesTheSetting()
    {
        using var app = new NewsletterApp(new() { ["Database:Provider"] = "PostgreSql" });
        var error = Assert.Throws<Newsletter.Mail.SettingsException>(() => app.CreateClient());
        Assert.Contains("Database:ConnectionString is empty", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("PostgreSql", "Hots=nowhere;Databse=x")]
    [InlineData("Sqlite", "Data Sorce=x.db")]
    public void AMalformedConnectionStringStopsTheStartAndNamesTheSetting(string provider, string connectionString)
    {
        using var app = new NewsletterApp(new() { ["Database:Provider"] = provider, ["Database:ConnectionString"] = connectionString });
        var error = Assert.Throws<Newsletter.Mail.SettingsException>(() => app.CreateClient());
        Assert.Contains($"Database:ConnectionString is not a valid {provider} connection string", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AnUnreachableServerStopsTheStartAndNamesTheSetting()
    {
        var nobodyListens = $"Host=127.0.0.1;Port={AppProcess.FreePort()};Database=newsletter;Username=postgres;Timeout=5";
        using var app = new NewsletterApp(new() { ["Database:Provider"] = "PostgreSql", ["Database:ConnectionString"] = nobodyListens });
        var error = Assert.Throws<UnreachableDatabaseException>(() => app.CreateClient());
        Assert.Contains("check Database:ConnectionString", error.Message, StringComparison.Ordinal);
    }

    /// <summary>The shipped configuration names no job storage: a value there would win over "jobs follow the data", and two nodes on PostgreSQL would each keep their own SQLite job file.</summary>
    [Fact]
    public void TheShippedConfigurationLetsJobsFollowTheData()
    {
        using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(RepoPaths.Root, "appsettings.json")));
        Assert.Equal("", json.RootElement.GetProperty("Jobs").GetProperty("Storage").GetString());
    }

    /// <summary>Several nodes on one database need one job store: unless Jobs:Storage says otherwise, jobs go where the data goes.</summary>
    [Fact]
    public void JobsFollowThePostgreSqlDataUnlessJobsStorageIsSet()
    {
        using var followed = new NewsletterApp(new() { ["Jobs:Storage"] = null }, provider: DatabaseProvider.PostgreSql);
        Assert.IsType<PostgreSqlStorage>(followed.Services.GetRequiredService<JobStorage>());

        using var chosen = new NewsletterApp(new() { ["Jobs:Storage"] = "Sqlite" }, provider: DatabaseProvider.PostgreSql);
        Assert.IsType<SqliteStorage>(chosen.Services.GetRequiredService<JobStorage>());

        using var sqlite = new NewsletterApp(new() { ["Jobs:Storage"] = null }, provider: DatabaseProvider.Sqlite);
        Assert.IsType<SqliteStorage>(sqlite.Services.GetRequiredService<JobStorage>());
    }

    /// <summary>Dates go in as UTC and come back as UTC on both databases, and compare in SQL as instants.</summary>
    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.PostgreSql)]
    public async Task UtcDatesRoundTrip(DatabaseProvider provider)
    {
        using var app = new NewsletterApp(provider: provider);
        var confirmed = new DateTime(2026, 7, 14, 23, 59, 58, DateTimeKind.Utc).AddTicks(123_450);
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            db.Subscribers.Add(new Subscriber { Email = "utc@example.org", EmailKey = "utc@example.org", Source = "test", ConfirmedAt = confirmed, CreatedAt = confirmed });
            await db.SaveChangesAsync(Ct);
        }

        await using (var scope = app.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            var read = await db.Subscribers.SingleAsync(s => s.EmailKey == "utc@example.org" && s.ConfirmedAt > confirmed.AddTicks(-10) && s.CreatedAt < confirmed.AddTicks(10), Ct);
            Assert.Equal(DateTimeKind.Utc, read.CreatedAt.Kind);
            Assert.Equal(confirmed, read.CreatedAt);
            Assert.Equal(DateTimeKind.Utc, read.ConfirmedAt!.Value.Kind);
            Assert.Equal(confirmed, read.ConfirmedAt);
        }
    }

    /// <summary>On PostgreSQL the key ring is in the database: a cookie made by one node opens the admin on another.</summary>
    [Fact]
    public async Task OnPostgreSqlEveryNodeReadsTheSameKeyRing()
    {
        using var first = new NewsletterApp(provider: DatabaseProvider.PostgreSql);
        using var second = new NewsletterApp(new() { ["Database:Provider"] = "PostgreSql", ["Database:ConnectionString"] = first.PostgresConnectionString });
        var cookies = new CookieContainer();
        await Forms.SetUpOwnerAsync(first.CreateDefaultClient(new Uri("http://localhost"), new CookieContainerHandler(cookies)));

        var response = await second.CreateDefaultClient(new Uri("http://localhost"), new CookieContainerHandler(cookies)).GetAsync("/admin", Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await using var scope = first.Services.CreateAsyncScope();
        Assert.NotEmpty(await scope.ServiceProvider.GetRequiredService<AppDbContext>().DataProtectionKeys.ToListAsync(Ct));
        Assert.False(Directory.Exists(Path.Combine(first.DataFolder, "keys")));
        Assert.False(Directory.Exists(Path.Combine(second.DataFolder, "keys")));
    }

    [Fact]
    public async Task OnSqliteTheKeyRingStaysInTheDataFolder()
    {
        using var app = new NewsletterApp(provider: DatabaseProvider.Sqlite);
        await Forms.SetUpOwnerAsync(app.CreateBrowserClient());
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(app.DataFolder, "keys")));
        await using var scope = app.Services.CreateAsyncScope();
        Assert.Empty(await scope.ServiceProvider.GetRequiredService<AppDbContext>().DataProtectionKeys.ToListAsync(Ct));
    }
}
