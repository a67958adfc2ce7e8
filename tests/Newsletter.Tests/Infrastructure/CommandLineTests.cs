using System.Diagnostics;
using Newsletter.Testing;
using Newsletter.Web.Infrastructure;

namespace Newsletter.Tests.Infrastructure;

/// <summary>The command-line verbs as a user types them: mistakes stop before anything is touched, and files mean the user's folder.</summary>
public class CommandLineTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(new[] { "--urls", "http://127.0.0.1:5077" }, null, null)]
    [InlineData(new[] { "--Jobs:Server=false", "--environment", "Testing" }, null, null)]
    [InlineData(new[] { "--Data:Folder=/srv/nl/data", "migrate" }, "migrate", null)]
    [InlineData(new[] { "--Data:Folder", "migrate" }, "migrate", null)]
    [InlineData(new[] { "import-notes", "--Notes:Folder", "/srv/nl/notes" }, "import-notes", null)]
    [InlineData(new[] { "backup", "/var/backups/nl", "--Data:Folder=/srv/nl/data" }, "backup", null)]
    [InlineData(new[] { "--help" }, "help", null)]
    [InlineData(new[] { "improt-notes" }, null, "Unknown command 'improt-notes'")]
    [InlineData(new[] { "--Data:Folder=x", "improt-notes" }, null, "Unknown command 'improt-notes'")]
    [InlineData(new[] { "import-subscribers" }, null, "name the file")]
    [InlineData(new[] { "import-subscribers", "a.csv", "--activ", "--consent", "x" }, null, "unknown option '--activ'")]
    [InlineData(new[] { "import-subscribers", "a.csv", "--active", "--consent" }, null, "--consent needs a value")]
    [InlineData(new[] { "import-posts", "feed.xml", "--dryrun" }, null, "unknown option '--dryrun'")]
    [InlineData(new[] { "import-posts", "feed.xml", "--as" }, null, "--as needs a value")]
    [InlineData(new[] { "backup", "a", "b" }, null, "one argument too many ('b')")]
    [InlineData(new[] { "migrate", "now" }, null, "one argument too many ('now')")]
    public void ConfigurationSwitchesMayStandAroundAVerbButTheVerbsOwnWordsAreChecked(string[] args, string? verb, string? error)
    {
        var parsed = VerbArguments.Parse(args, out var refused);
        Assert.Equal(verb, parsed?.Verb);
        if (error is null)
        {
            Assert.Null(refused);
        }
        else
        {
            Assert.NotNull(refused);
            Assert.Contains(error, refused, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void AVerbsOptionsArgumentsAndTheirValuesAreReadWhereverTheyStand()
    {
        var parsed = VerbArguments.Parse(["--Data:Folder=/d", "import-subscribers", "--active", "--consent", "at the meetup", "list.csv", "--tags", "a,b", "--Notes:Folder", "/n"], out var refused);
        Assert.Null(refused);
        Assert.Equal(["list.csv"], parsed!.Arguments);
        Assert.Contains("--active", parsed.Flags);
        Assert.Equal("at the meetup", parsed.Option("--consent"));
        Assert.Equal("a,b", parsed.Option("--tags"));
    }

    [Fact]
    public void TheHostIsGivenOnlyTheConfigurationWordsNotAVerbsPathsOrOptions()
    {
        Assert.Equal(["--Data:Folder=/srv/nl/data"], VerbArguments.ConfigurationOf(["backup", "/var/backups/nl", "--Data:Folder=/srv/nl/data"]));
        Assert.Equal(["--urls", "http://127.0.0.1:5077", "--Notes:Folder", "/n"],
            VerbArguments.ConfigurationOf(["--urls", "http://127.0.0.1:5077", "import-subscribers", "/tmp/list.csv", "--consent", "/at/a/talk", "--active", "--Notes:Folder", "/n"]));
        Assert.Equal(["--Jobs:Server=false", "Site:Title=x"], VerbArguments.ConfigurationOf(["--Jobs:Server=false", "Site:Title=x"]));
    }

    /// <summary>
    /// SQLite's write lock held by another process (a backup, a long import) past the busy timeout: the verb says so
    /// in a sentence and exits 75 (try again later), and the API answers 503 with Retry-After, where one crashed with
    /// a stack trace (exit 134) and the other answered a 500. Once the lock is gone, the same requests work.
    /// </summary>
    [Fact]
    public async Task ABusyDatabaseIsTryAgainLaterForTheImportVerbAndTheApi()
    {
        using var app = new NewsletterApp(provider: Web.Data.Providers.DatabaseProvider.Sqlite);
        var api = await Tests.Api.ApiClients.ClientAsync(app);
        await using var verb = new AppProcess(sampleNotes: false);
        var list = Path.Combine(verb.Root, "list.csv");
        await File.WriteAllTextAsync(list, "email\nzed@example.org\n", Ct);
        var (migrated, said) = await verb.RunVerbAsync("migrate");
        Assert.True(migrated == 0, said);

        var verbLock = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(verb.DataFolder, "newsletter.db")};Pooling=False");
        await verbLock.OpenAsync(Ct);
        await using (var begin = verbLock.CreateCommand())
        {
            begin.CommandText = "BEGIN EXCLUSIVE";
            await begin.ExecuteNonQueryAsync(Ct);
        }

        var body = new System.Net.Http.StringContent("""{"email":"busy@example.org","doubleOptIn":false,"consent":"test"}""", System.Text.Encoding.UTF8, "application/json");
        Task<HttpResponseMessage> refused;
        (int Code, string Output) busy;
        await using (await WriteLock.TakeAsync(app, "Subscribers"))
        {
            refused = api.PostAsync("/api/v1/subscribers", body, Ct);
            busy = await verb.RunVerbAsync("import-subscribers", list);
            await refused;
        }

        await verbLock.DisposeAsync();
        Assert.True(busy.Code == 75, $"{busy.Code}: {busy.Output}");
        Assert.Contains("the database is busy or not answering", busy.Output, StringComparison.Ordinal);
        // EF's own log line for the failed statement stays (it is the log); the command itself ends in its sentence.
        Assert.DoesNotContain("Unhandled exception", busy.Output, StringComparison.Ordinal);
        Assert.EndsWith("skipped as duplicates.", busy.Output.TrimEnd(), StringComparison.Ordinal);
        var answer = await refused;
        Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, answer.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(5), answer.Headers.RetryAfter?.Delta);
        Assert.Contains("The database is busy", await answer.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);

        Assert.Equal(System.Net.HttpStatusCode.Created, (await api.PostAsync("/api/v1/subscribers", new System.Net.Http.StringContent("""{"email":"busy@example.org","doubleOptIn":false,"consent":"test"}""", System.Text.Encoding.UTF8, "application/json"), Ct)).StatusCode);
        var (imported, output) = await verb.RunVerbAsync("import-subscribers", list);
        Assert.True(imported == 0, output);
    }

    [Fact]
    public async Task ASettingAfterAnAbsolutePathIsTheOneTheVerbUses()
    {
        // .NET's command-line configuration reads "/tmp/list.csv" as a "/key value" switch: given the whole line,
        // the path took the next word, --Data:Folder, as its value, and the import went into the default data folder.
        await using var app = new AppProcess(sampleNotes: false);
        var list = Path.Combine(app.Root, "list.csv");
        await File.WriteAllTextAsync(list, "email\nzed@example.org\n", Ct);
        var elsewhere = Path.Combine(app.Root, "elsewhere");
        var (code, output) = await app.RunVerbAsync("import-subscribers", Path.GetFullPath(list), $"--Data:Folder={elsewhere}", "--active", "--consent", "a test");
        Assert.True(code == 0, output);
        Assert.True(File.Exists(Path.Combine(elsewhere, "newsletter.db")), output);
        Assert.False(File.Exists(Path.Combine(app.DataFolder, "newsletter.db")), $"the default data folder was used: {output}");
    }

    [Fact]
    public async Task AMistypedCommandOrOptionExitsWithTwoAndTouchesNoDatabase()
    {
        await using var app = new AppProcess(sampleNotes: false);
        var list = Path.Combine(app.Root, "list.csv");
        await File.WriteAllTextAsync(list, "email\nada@example.org\n", Ct);
        foreach (var args in new[] { ["improt-notes"], new[] { "import-subscribers", list, "--activ", "--consent", "at the meetup" }, ["import-posts", list, "--dryrun"] })
        {
            var (code, output) = await app.RunVerbAsync(args);
            Assert.True(code == 2, $"{string.Join(' ', args)}: {code} {output}");
            Assert.False(File.Exists(Path.Combine(app.DataFolder, "newsletter.db")), $"{string.Join(' ', args)} made a database: {output}");
        }

        // A file that is not there is said with exit 1, before a database is made for it.
        foreach (var verb in new[] { "import-subscribers", "import-posts" })
        {
            var (code, output) = await app.RunVerbAsync(verb, Path.Combine(app.Root, "nothere.csv"));
            Assert.True(code == 1, $"{verb}: {code} {output}");
            Assert.Contains($"{verb}: file '{Path.Combine(app.Root, "nothere.csv")}' not found", output, StringComparison.Ordinal);
            Assert.False(File.Exists(Path.Combine(app.DataFolder, "newsletter.db")), $"{verb} made a database: {output}");
        }

        var (help, usage) = await app.RunVerbAsync("--help");
        Assert.True(help == 0, usage);
        Assert.Contains("import-subscribers FILE", usage, StringComparison.Ordinal);

        // A switch before the verb is configuration, and the verb still runs (it started the web server before).
        var elsewhere = Path.Combine(app.Root, "elsewhere");
        var (migrated, said) = await app.RunVerbAsync($"--Data:Folder={elsewhere}", "migrate");
        Assert.True(migrated == 0, said);
        Assert.True(File.Exists(Path.Combine(elsewhere, "newsletter.db")), said);
        // migrate makes the job store's schema too, so nodes started after it never race to make it.
        Assert.True(File.Exists(Path.Combine(elsewhere, "jobs.db")), said);

        // Notes imported into a new folder, never served: no jobs database yet, and a backup leaves it out instead of failing.
        var fresh = Path.Combine(app.Root, "fresh");
        var (imported, importSaid) = await app.RunVerbAsync($"--Data:Folder={fresh}", "import-notes");
        Assert.True(imported == 0, importSaid);
        Assert.False(File.Exists(Path.Combine(fresh, "jobs.db")), importSaid);
        var backups = Path.Combine(app.Root, "backups");
        var (backedUp, report) = await app.RunVerbAsync($"--Data:Folder={fresh}", "backup", backups);
        Assert.True(backedUp == 0, report);
        Assert.Contains("jobs: no database yet", report, StringComparison.Ordinal);
        Assert.Single(Directory.GetFiles(backups, "*.tar.gz"));
    }

    [Fact]
    public async Task ProcessInboundWithoutTheAppsDatabaseKeepsTheMessageWithTheMailServer()
    {
        // A pipe set up without the app's folder: before, an empty database was made, the bounce recorded there, exit 0.
        await using var app = new AppProcess(sampleNotes: false);
        var bounce = "From: MAILER-DAEMON@example.net\r\nTo: bounce+00112233445566778899aabbccddeeff@example.org\r\nSubject: Undelivered Mail\r\n\r\nGone.\r\n";
        var (code, output) = await app.PipeAsync(bounce, "process-inbound");
        Assert.True(code == 75, $"{code}: {output}");
        Assert.Contains("No database at " + Path.Combine(app.DataFolder, "newsletter.db"), output, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(app.DataFolder, "newsletter.db")), output);
    }

    /// <summary>
    /// A database that is down is what EX_TEMPFAIL is for: the mail server keeps the message and tries again. It
    /// crashed with a stack trace and exit 134 instead, which a mail server may take as a permanent failure.
    /// </summary>
    [Fact]
    public async Task ProcessInboundWhileThePostgreSqlServerIsDownKeepsTheMessageWithTheMailServer()
    {
        await using var app = new AppProcess(sampleNotes: false);
        var bounce = "From: MAILER-DAEMON@example.net\r\nTo: bounce+00112233445566778899aabbccddeeff@example.org\r\nSubject: Undelivered Mail\r\n\r\nGone.\r\n";
        using var closed = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        closed.Start();
        var port = ((System.Net.IPEndPoint)closed.LocalEndpoint).Port;
        closed.Stop(); // a port nothing listens on: connection refused, as from a stopped server
        var (code, output) = await app.PipeAsync(bounce, "process-inbound", "--Database:Provider=PostgreSql",
            $"--Database:ConnectionString=Host=127.0.0.1;Port={port};Username=newsletter;Password=x;Timeout=5");
        Assert.True(code == 75, $"{code}: {output}");
        Assert.Contains("The database could not be reached, try again later", output, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DotnetRunReadsAFileNamedRelativeToTheFolderTheCommandWasTypedIn()
    {
        // README: `dotnet run --project src/Newsletter.Web -- import-subscribers list.csv`, typed where list.csv is.
        // The Web SDK runs the app in the project's folder unless told otherwise (RunWorkingDirectory).
        var here = RepoPaths.TempDir("typed-here");
        await File.WriteAllTextAsync(Path.Combine(here, "list.csv"), "email\nada@example.org\ngrace@example.org\n", Ct);
        var info = new ProcessStartInfo("dotnet", ["run", "--no-build", "--project", Path.Combine(RepoPaths.Root, "src", "Newsletter.Web"), "--",
            "import-subscribers", "list.csv", "--active", "--consent", "from the test"])
        {
            WorkingDirectory = here,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        info.Environment["Data__Folder"] = Path.Combine(here, "data");
        info.Environment["Logging__LogLevel__Default"] = "Warning";
#if DEBUG
        info.ArgumentList.Insert(2, "-c");
        info.ArgumentList.Insert(3, "Debug");
#else
        info.ArgumentList.Insert(2, "-c");
        info.ArgumentList.Insert(3, "Release");
#endif
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync(Ct);
        var stderr = process.StandardError.ReadToEndAsync(Ct);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromMinutes(3));
        await process.WaitForExitAsync(timeout.Token);
        var output = await stdout + await stderr;
        Assert.True(process.ExitCode == 0, output);
        Assert.Contains("2 rows, 2 imported", output, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(here, "data", "newsletter.db")), output);

        // The audit log says a list came in from a shell, as it does for the admin's upload and the API's.
        using var db = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(here, "data", "newsletter.db")};Pooling=False");
        db.Open();
        using var read = db.CreateCommand();
        read.CommandText = "SELECT ActorName || ' | ' || Detail FROM AuditEntries WHERE Action = 'readers.import'";
        var entry = (string?)read.ExecuteScalar();
        Assert.NotNull(entry);
        Assert.StartsWith("the import-subscribers command, run as ", entry, StringComparison.Ordinal);
        Assert.EndsWith("list.csv, as active (consent: from the test)", entry, StringComparison.Ordinal);
    }
}
