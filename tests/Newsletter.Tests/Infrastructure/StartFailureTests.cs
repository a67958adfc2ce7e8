using System.Diagnostics;
using Newsletter.Testing;
using Newsletter.Web.Infrastructure;

namespace Newsletter.Tests.Infrastructure;

/// <summary>
/// The built app started as an operator starts it (`dotnet Newsletter.Web.dll`), with one wrong setting: it says
/// which in one sentence and exits 78, which the systemd unit does not restart. Before, each of these printed an
/// unhandled exception's thirty lines of stack and aborted with 134, and a wrong mail transport or time zone did so
/// only after migrating the database and importing the notes.
/// </summary>
public class StartFailureTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    // Read while the services are registered, before the host is built.
    [InlineData("", "Database:Provider", "MySql", "Database:Provider 'MySql' is not supported")]
    // The configuration binder's own refusal.
    [InlineData("", "Sending:BatchSize", "fifty", "Failed to convert configuration value")]
    // An options validation the host would have run at its start.
    [InlineData("", "Site:TimeZone", "Europe/Berln", "Site:TimeZone 'Europe/Berln' is not a time zone this machine knows")]
    // A base URL without its scheme wrote every email link as "news.example.org/confirm/…".
    [InlineData("", "Site:BaseUrl", "news.example.org", "Site:BaseUrl 'news.example.org' is not a web address")]
    // The transport, made by the template check.
    [InlineData("", "Mail:Transport", "Carrier", "Mail:Transport 'Carrier' is not 'Pickup' or 'Smtp'")]
    // A worker count below one used to become one worker without a word.
    [InlineData("", "Jobs:WorkerCount", "-1", "Jobs:WorkerCount '-1' is not a number of job workers from 1 to 1000")]
    // A verb with a wrong setting ends the same way.
    [InlineData("migrate", "Database:Provider", "MySql", "Database:Provider 'MySql' is not supported")]
    public async Task AWrongSettingEndsTheProcessWithItsSentenceAndExitCode78(string verb, string key, string value, string says)
    {
        var (exitCode, stdout, stderr, data) = await RunAsync(verb, new()
        {
            ["Database__Provider"] = "Sqlite",
            ["Jobs__Storage"] = "Sqlite",
            [key.Replace(":", "__", StringComparison.Ordinal)] = value,
        });
        var output = stdout + stderr;
        Assert.True(exitCode == StartFailure.BadSettingsExitCode, $"exit {exitCode}: {output}");
        Assert.Contains($"Newsletter can't start: {says}", stderr, StringComparison.Ordinal);
        Assert.Contains(key, stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(data, "newsletter.db")), output);
    }

    /// <summary>A database that doesn't answer is said in one sentence too, with 75 (try again later): systemd restarts it.</summary>
    [Theory]
    [InlineData("")]
    [InlineData("import-notes")]
    public async Task AnUnreachableDatabaseEndsTheProcessWithItsSentenceAndExitCode75(string verb)
    {
        var (exitCode, stdout, stderr, _) = await RunAsync(verb, new()
        {
            ["Database__Provider"] = "PostgreSql",
            ["Database__ConnectionString"] = $"Host=127.0.0.1;Port={AppProcess.FreePort()};Database=newsletter;Username=postgres;Timeout=3",
        });
        Assert.True(exitCode == StartFailure.UnreachableDatabaseExitCode, $"exit {exitCode}: {stdout}{stderr}");
        Assert.Contains("Newsletter can't start: Could not open the database: check Database:ConnectionString", stderr, StringComparison.Ordinal);
        if (verb.Length > 0)
        {
            // A server's host logs the failed start with its stack before this; a verb has no host to.
            Assert.DoesNotContain("   at ", stdout + stderr, StringComparison.Ordinal);
        }
    }

    /// <summary>
    /// A database file that is not a database (or is damaged) will be the same after a restart: 78 with its sentence,
    /// not 75, which made systemd restart the node for ever.
    /// </summary>
    [Theory]
    [InlineData("migrate")]
    [InlineData("")]
    public async Task ADatabaseFileThatIsNotADatabaseEndsTheProcessWith78(string verb)
    {
        var data = RepoPaths.TempDir("start-failure");
        Directory.CreateDirectory(data);
        var file = Path.Combine(data, "not-a-database.db");
        await File.WriteAllTextAsync(file, "bad, and long enough to fill SQLite's header: " + new string('x', 200), TestContext.Current.CancellationToken);
        var (exitCode, stdout, stderr, _) = await RunAsync(verb, new() { ["Database__ConnectionString"] = $"Data Source={file}" }, data);
        Assert.True(exitCode == StartFailure.BadSettingsExitCode, $"exit {exitCode}: {stdout}{stderr}");
        Assert.Contains("Newsletter can't start: The database file is not a SQLite database, or is damaged", stderr, StringComparison.Ordinal);
    }

    /// <summary>
    /// An older build started on a database a newer one migrated (a rolled-back deploy) used to say "up to date"
    /// and serve, writing to a schema it did not know. Now it refuses, in one sentence, with 78, and writes nothing.
    /// </summary>
    [Theory]
    [InlineData("migrate")]
    [InlineData("")]
    public async Task ADatabaseMigratedByANewerVersionIsRefused(string verb)
    {
        var settings = new Dictionary<string, string> { ["Database__Provider"] = "Sqlite", ["Jobs__Storage"] = "Sqlite" };
        var (migrated, _, _, data) = await RunAsync("migrate", settings);
        Assert.Equal(0, migrated);
        await using (var db = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(data, "newsletter.db")};Pooling=False"))
        {
            await db.OpenAsync(Ct);
            await using var insert = db.CreateCommand();
            insert.CommandText = "INSERT INTO __EFMigrationsHistory (MigrationId, ProductVersion) VALUES ('29991231000000_FromTheFuture', '10.0.0')";
            await insert.ExecuteNonQueryAsync(Ct);
        }

        var (exitCode, stdout, stderr, _) = await RunAsync(verb, settings, data);
        Assert.True(exitCode == StartFailure.BadSettingsExitCode, $"exit {exitCode}: {stdout}{stderr}");
        Assert.Contains("Newsletter can't start: The database was migrated by a newer version of Newsletter (29991231000000_FromTheFuture", stderr, StringComparison.Ordinal);
    }

    /// <summary>A port already taken (the old node of a deploy still running): one sentence and 75, not a stack and 134.</summary>
    [Fact]
    public async Task APortAlreadyTakenEndsTheProcessWithItsSentenceAndExitCode75()
    {
        using var holder = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        holder.Start();
        var port = ((System.Net.IPEndPoint)holder.LocalEndpoint).Port;
        var (exitCode, stdout, stderr, _) = await RunAsync("", new()
        {
            ["Database__Provider"] = "Sqlite",
            ["Jobs__Storage"] = "Sqlite",
            ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}",
        });
        Assert.True(exitCode == StartFailure.UnreachableDatabaseExitCode, $"exit {exitCode}: {stdout}{stderr}");
        Assert.Contains("Newsletter can't start:", stderr, StringComparison.Ordinal);
        Assert.Contains("ASPNETCORE_URLS", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void WhatIsNotASettingIsNotExplained()
    {
        Assert.Null(StartFailure.Explain(new InvalidOperationException("Could not open the database: check Database:ConnectionString (and that the server is running).")));
        Assert.Null(StartFailure.Explain(new TimeoutException()));
        Assert.Equal("Mail:Transport 'x' is not 'Pickup' or 'Smtp'.",
            StartFailure.Explain(new AggregateException(new TimeoutException(), new InvalidOperationException("wrapped", new Newsletter.Mail.SettingsException("Mail:Transport 'x' is not 'Pickup' or 'Smtp'.")))));
    }

    /// <summary>The built app, as an operator runs it, with these settings; its exit code and what it printed.</summary>
    private static async Task<(int ExitCode, string Stdout, string Stderr, string DataFolder)> RunAsync(string verb, Dictionary<string, string> settings, string? dataFolder = null)
    {
        var data = dataFolder ?? RepoPaths.TempDir("start-failure");
        var info = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "Newsletter.Web.dll")])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = RepoPaths.Root,
        };
        if (verb.Length > 0)
        {
            info.ArgumentList.Add(verb);
        }

        info.Environment["ASPNETCORE_URLS"] = $"http://127.0.0.1:{AppProcess.FreePort()}";
        info.Environment["Data__Folder"] = data;
        foreach (var (key, value) in settings)
        {
            info.Environment[key] = value;
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync(Ct);
        var stderr = process.StandardError.ReadToEndAsync(Ct);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromMinutes(2));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }

        return (process.ExitCode, await stdout, await stderr, data);
    }
}
