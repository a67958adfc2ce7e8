using System.Formats.Tar;
using System.IO.Compression;
using System.Net;
using Microsoft.AspNetCore.Mvc.Testing.Handlers;
using Microsoft.Data.Sqlite;
using Newsletter.Testing;
using Newsletter.Web.Data.Providers;
using Newsletter.Web.Issues;
using Newsletter.Tests.Sending;
using Newsletter.Web.Sending;
using static Newsletter.Tests.Sending.SendingFixture;

namespace Newsletter.Tests.Operations;

/// <summary>
/// The backup and restore verbs for real: run as the operator runs them (the built app, another process)
/// against the data folder of an app that is sending, then a new app on the restored folder.
/// </summary>
public class BackupTests
{
    [Fact]
    public async Task ABackupTakenDuringASendRestoresIntoAnEmptyFolderWhereTheSendFinishesAndTheSessionStillWorks()
    {
        const int readers = 300;
        await using var smtp = await SmtpServer.StartAsync();
        // Paced, so the backup lands in the middle of the send.
        var pace = new Dictionary<string, string?> { ["Sending:MaxPerSecond"] = "20", ["Sending:BatchSize"] = "10", ["Sending:Concurrency"] = "2" };
        var backups = RepoPaths.TempDir("backups");
        var cookies = new CookieContainer();
        int issueId;
        string output;
        using (var app = new NewsletterApp(Settings(smtp, pace), provider: DatabaseProvider.Sqlite))
        {
            var author = app.CreateDefaultClient(new CookieContainerHandler(cookies));
            await Forms.SetUpOwnerAsync(author);
            Assert.Equal(HttpStatusCode.OK, (await author.GetAsync("/admin", Ct)).StatusCode);
            await AddReadersAsync(app, readers);
            issueId = await AddIssueAsync(app);
            await SendNowAsync(app, issueId);
            await smtp.WaitForAsync(20, TimeSpan.FromSeconds(60));

            (var exit, output) = await new AppProcess(root: app.Root, sampleNotes: false).RunVerbAsync("backup", backups);
            Assert.True(exit == 0, output);
            Assert.Matches(@"app data: [\d.]+ MB copied", output);
            Assert.Equal(HttpStatusCode.OK, (await author.GetAsync("/health/ready", Ct)).StatusCode);
        }

        // The machine is gone; its archive is what is left.
        var archive = Assert.Single(Directory.GetFiles(backups, "*.tar.gz"));
        Assert.Matches(@"newsletter-backup-\d{8}T\d{6}Z\.tar\.gz$", archive);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(archive));
        }

        var entries = Entries(archive);
        Assert.Equal("manifest.json", entries[0]);
        Assert.Contains("data/newsletter.db", entries);
        Assert.Contains("data/jobs.db", entries);
        Assert.Contains(entries, e => e.StartsWith("data/keys/key-", StringComparison.Ordinal));
        Assert.Contains("templates/issue.html.liquid", entries);

        // Restored by the verb into a new home: empty data folder, and templates into a folder of its own.
        var home = RepoPaths.TempDir("restored");
        var templates = Path.Combine(home, "templates");
        var restorer = new AppProcess(new() { ["Mail__TemplatesFolder"] = templates }, sampleNotes: false, root: home);
        var (restored, said) = await restorer.RunVerbAsync("restore", archive);
        Assert.True(restored == 0, said);
        Assert.True(File.Exists(Path.Combine(templates, "issue.html.liquid")), said);

        // What the backup's ledger had already sent: those readers must not hear from the restored node.
        var sentBefore = SentReaders(Path.Combine(home, "data", "newsletter.db"), issueId);
        Assert.True(sentBefore.Count is > 0 and < readers, $"the backup should land mid-send; it holds {sentBefore.Count} of {readers} sent");

        using (var app = new NewsletterApp(Settings(smtp, new(pace)
        {
            ["Data:Folder"] = Path.Combine(home, "data"),
            ["Notes:Folder"] = Path.Combine(home, "notes"),
            ["Mail:TemplatesFolder"] = templates,
        }), provider: DatabaseProvider.Sqlite))
        {
            // The session made before the backup opens the restored admin: its keys and its author came along.
            var author = app.CreateDefaultClient(new CookieContainerHandler(cookies));
            var dashboard = await author.GetAsync("/admin", Ct);
            Assert.True(dashboard.StatusCode == HttpStatusCode.OK, $"{(int)dashboard.StatusCode} {dashboard.Headers.Location}\n{app.ServerLog}");

            await WaitForStatusAsync(app, issueId, IssueStatus.Sent, TimeSpan.FromMinutes(3));
            var ledger = await DeliveriesAsync(app, issueId);
            Assert.Equal(readers, ledger.Count);
            Assert.Equal(readers, ledger.Select(d => d.SubscriberId).Distinct().Count());
            Assert.All(ledger, d => Assert.Equal(DeliveryStatus.Sent, d.Status));

            // Everyone has it; nobody the backup knew as sent got it again. The only second copies are of mail the
            // lost node sent after the backup, which a restore cannot know about.
            var copies = SendingProcess.CopiesByRecipient(smtp);
            var emails = await EmailsAsync(app);
            Assert.Equal(readers, copies.Count);
            TestContext.Current.TestOutputHelper?.WriteLine($"The backup held {sentBefore.Count} of {readers} sent; {copies.Count(c => c.Value > 1)} readers got a copy from each node.\n{output}\n{said}");
            Assert.All(sentBefore, id => Assert.Equal(1, copies[emails[id]]));
            Assert.All(copies, c => Assert.InRange(c.Value, 1, 2));

            // A second restore into the folder now in use is refused, and says why.
            var (again, refused) = await restorer.RunVerbAsync("restore", archive);
            Assert.NotEqual(0, again);
            Assert.Contains("is not empty", refused, StringComparison.Ordinal);
            Assert.Equal(HttpStatusCode.OK, (await author.GetAsync("/admin", Ct)).StatusCode);
        }
    }

    [Fact]
    public async Task RestoreRefusesToOverwriteADifferentNoteOrReadADamagedArchiveAndWritesNothing()
    {
        using var app = new NewsletterApp(sampleNotes: true, provider: DatabaseProvider.Sqlite);
        await app.CreateClient().GetAsync("/health/live", Ct);
        var backups = RepoPaths.TempDir("backups");
        var (exit, output) = await new AppProcess(root: app.Root, sampleNotes: false).RunVerbAsync("backup", backups);
        Assert.True(exit == 0, output);
        var archive = Assert.Single(Directory.GetFiles(backups, "*.tar.gz"));

        var home = RepoPaths.TempDir("restored");
        Directory.CreateDirectory(Path.Combine(home, "notes"));
        File.WriteAllText(Path.Combine(home, "notes", "about.md"), "---\ntitle: Mine\n---\nNot the archive's.\n");
        var restorer = new AppProcess(root: home, sampleNotes: false);
        var (refused, said) = await restorer.RunVerbAsync("restore", archive);
        Assert.Equal(1, refused);
        Assert.Contains("would overwrite", said, StringComparison.Ordinal);
        Assert.Contains("about.md", said, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(Path.Combine(home, "data"), "*", SearchOption.AllDirectories));
        Assert.Single(Directory.GetFiles(Path.Combine(home, "notes")));

        var cut = Path.Combine(backups, "cut.tar.gz");
        var bytes = File.ReadAllBytes(archive);
        File.WriteAllBytes(cut, bytes[..(bytes.Length / 2)]);
        File.Delete(Path.Combine(home, "notes", "about.md"));
        var (damaged, why) = await restorer.RunVerbAsync("restore", cut);
        Assert.Equal(1, damaged);
        Assert.Contains("damaged or cut short", why, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(home, "*", SearchOption.AllDirectories));

        // A folder the restore can't write into stops it before the databases are written, not after: a second try
        // was then refused for a data folder no longer empty. Tests run as root, whom modes don't stop, so here a
        // file stands where the notes folder should be made.
        var blocked = RepoPaths.TempDir("blocked");
        File.WriteAllText(Path.Combine(blocked, "wall"), "a file, not a folder");
        var walled = new AppProcess(new() { ["Notes__Folder"] = Path.Combine(blocked, "wall", "notes") }, root: blocked, sampleNotes: false);
        var (cannot, whyNot) = await walled.RunVerbAsync("restore", archive);
        Assert.True(cannot == 1, whyNot);
        Assert.Contains("can't write into " + Path.Combine(blocked, "wall"), whyNot, StringComparison.Ordinal);
        Assert.Contains("Nothing was written", whyNot, StringComparison.Ordinal);
        Assert.False(Directory.Exists(walled.DataFolder) && Directory.EnumerateFiles(walled.DataFolder, "*", SearchOption.AllDirectories).Any(), whyNot);

        // A sound archive holding a damaged database (pages overwritten, the gzip and tar intact) used to restore
        // "fine". Now the restore refuses it and takes back what it wrote, so the folder is empty for the next try.
        var tampered = Path.Combine(backups, "tampered.tar.gz");
        Rewrite(archive, tampered, "data/newsletter.db", database =>
        {
            Array.Fill(database, (byte)0x55, 4096, Math.Min(64 * 1024, database.Length - 4096));
            return database;
        });
        var fresh = new AppProcess(root: RepoPaths.TempDir("tampered"), sampleNotes: false);
        var (malformed, told) = await fresh.RunVerbAsync("restore", tampered);
        Assert.True(malformed == 1, told);
        Assert.Contains("were removed again", told, StringComparison.Ordinal);
        Assert.False(Directory.Exists(fresh.DataFolder) && Directory.EnumerateFiles(fresh.DataFolder, "*", SearchOption.AllDirectories).Any(), told);
        var (restored, all) = await fresh.RunVerbAsync("restore", archive);
        Assert.True(restored == 0, all);
    }

    /// <summary>A copy of the archive with one entry's bytes changed, everything else as it was.</summary>
    private static void Rewrite(string archive, string copy, string name, Func<byte[], byte[]> change)
    {
        using var input = new TarReader(new GZipStream(File.OpenRead(archive), CompressionMode.Decompress));
        using var output = new TarWriter(new GZipStream(File.Create(copy), CompressionLevel.Fastest), TarEntryFormat.Pax, leaveOpen: false);
        while (input.GetNextEntry(copyData: true) is { } entry)
        {
            if (entry.Name == name && entry.DataStream is not null)
            {
                using var bytes = new MemoryStream();
                entry.DataStream.CopyTo(bytes);
                entry.DataStream = new MemoryStream(change(bytes.ToArray()));
            }

            output.WriteEntry(entry);
        }
    }

    [Fact]
    public async Task OnPostgreSqlTheBackupHoldsKeysNotesAndTemplatesAndSaysToUsePgDump()
    {
        using var app = new NewsletterApp(sampleNotes: true, provider: DatabaseProvider.PostgreSql);
        await app.CreateClient().GetAsync("/health/live", Ct);
        var backups = RepoPaths.TempDir("backups");
        var (exit, output) = await new AppProcess(new()
        {
            ["Database__Provider"] = "PostgreSql",
            ["Database__ConnectionString"] = app.PostgresConnectionString!,
        }, root: app.Root, sampleNotes: false).RunVerbAsync("backup", backups);
        Assert.True(exit == 0, output);
        Assert.Contains("pg_dump", output, StringComparison.Ordinal);
        Assert.DoesNotContain(app.PostgresConnectionString!, output, StringComparison.Ordinal);

        var entries = Entries(Assert.Single(Directory.GetFiles(backups, "*.tar.gz")));
        Assert.DoesNotContain("data/newsletter.db", entries);
        Assert.Contains("notes/about.md", entries);
        Assert.Contains("templates/issue.html.liquid", entries);
    }

    private static List<string> Entries(string archive)
    {
        using var gzip = new GZipStream(File.OpenRead(archive), CompressionMode.Decompress);
        using var tar = new TarReader(gzip);
        var names = new List<string>();
        while (tar.GetNextEntry() is { } entry)
        {
            names.Add(entry.Name);
        }

        return names;
    }

    private static HashSet<long> SentReaders(string database, int issueId)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = database, Mode = SqliteOpenMode.ReadWrite, Pooling = false }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT \"SubscriberId\" FROM \"Deliveries\" WHERE \"IssueId\" = $issue AND \"Status\" = $sent";
        command.Parameters.AddWithValue("$issue", issueId);
        command.Parameters.AddWithValue("$sent", (int)DeliveryStatus.Sent);
        using var reader = command.ExecuteReader();
        var ids = new HashSet<long>();
        while (reader.Read())
        {
            ids.Add(reader.GetInt64(0));
        }

        return ids;
    }
}
