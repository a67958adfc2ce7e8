using System.Globalization;
using System.Net;
using System.Text;
using Hangfire;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Newsletter.Testing;
using Newsletter.Web.Data;
using Newsletter.Web.Data.Providers;
using Newsletter.Web.Infrastructure;
using Newsletter.Web.Subscribers;
using Newsletter.Web.Subscribers.Admin;
using Newsletter.Web.Subscribers.Import;

namespace Newsletter.Tests.Subscribers;

public class ImportTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<SubscriberImport> ImportAsync(NewsletterApp app, string csv, bool active = true, string? tags = null, Encoding? encoding = null)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var sp = scope.ServiceProvider;
        var bytes = (encoding ?? new UTF8Encoding(false)).GetPreamble().Concat((encoding ?? Encoding.UTF8).GetBytes(csv)).ToArray();
        var import = await SubscriberImporter.StoreAsync(sp.GetRequiredService<AppDbContext>(), sp.GetRequiredService<ImportFiles>(), new MemoryStream(bytes), "test.csv", active, active ? "test consent" : null, tags, Ct);
        try
        {
            await sp.GetRequiredService<SubscriberImporter>().ImportAsync(import, Ct);
        }
        catch (CsvFormatException)
        {
            // The failure is recorded on the import; the tests read it from there.
        }

        return import;
    }

    private static async Task<SubscriberImport> ImportBytesAsync(NewsletterApp app, byte[] bytes)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var sp = scope.ServiceProvider;
        var import = await SubscriberImporter.StoreAsync(sp.GetRequiredService<AppDbContext>(), sp.GetRequiredService<ImportFiles>(), new MemoryStream(bytes), "test.csv", true, "test consent", null, Ct);
        await sp.GetRequiredService<SubscriberImporter>().ImportAsync(import, Ct);
        return import;
    }

    /// <summary>The refused rows' file, read as the app reads it: from data/imports on SQLite, the database on PostgreSQL.</summary>
    internal static async Task<string[]> ErrorLinesAsync(NewsletterApp app, int importId)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var file = await scope.ServiceProvider.GetRequiredService<ImportFiles>().OpenReadAsync(SubscriberImporter.ErrorsName(importId), Ct);
        Assert.NotNull(file);
        await using (file)
        {
            using var text = new StreamReader(file);
            var lines = new List<string>();
            while (await text.ReadLineAsync(Ct) is { } line)
            {
                lines.Add(line);
            }

            return [.. lines];
        }
    }

    private static async Task<List<Subscriber>> AllAsync(NewsletterApp app)
    {
        await using var scope = app.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AppDbContext>().Subscribers.AsNoTracking().Include(s => s.Tags).OrderBy(s => s.Id).ToListAsync(Ct);
    }

    /// <summary>
    /// Everything a hostile or careless file can do to one import, each row saying what it tests. It ends with
    /// a record longer than the reader accepts, which is reported on its line while the rows after it import.
    /// </summary>
    private static readonly string MessyFile = "email,name,tags,subscribed,confirmed\r\n"
        + "first@example.org,\"Ada\r\nLovelace\",\"math, history\",2024-01-02,\r\n"      // CRLF inside a quoted field
        + "FIRST@Example.org,Same address again,,2024-01-03,\r\n"                         // a duplicate within the file
        + "old@example.org,Already on the list,,2024-01-04,\r\n"                          // a duplicate of a reader on the list
        + "Gone@Example.org,Erased once,,2024-01-05,\r\n"                                 // suppressed
        + "gone@example.org,Erased once again,,2024-01-05,\r\n"                           // suppressed, and a duplicate of it
        + "not-an-address,Bad,,2024-01-06,\r\n"                                           // invalid address
        + "when@example.org,Bad date,,yesterday-ish,\r\n"                                 // invalid date
        + "nul\u0000@example.org,Nul,,2024-01-07,\r\n"                                    // a control character in an address
        + "ctl@example.org,\"Name\u0000With\u0007Controls\",,2024-01-08,\r\n"              // control characters in a name
        + "wide@example.org," + new string('x', 5000) + ",,2024-01-09,\r\n"              // a name longer than any name
        + "tags@example.org,Tags,\"A b; a-B ,c,,c\",2024-01-10,2024-02-01\r\n"           // messy tags, a confirmation date
        + "unix@example.org,Unix time,,1700000000,\r\n"                                  // a date in Unix seconds
        + "Mixed.Case@Example.ORG,Case,,2024-01-11,\r\n"                                  // a key that differs from the address
        + "huge@example.org," + new string('y', CsvReader.MaxRecordLength + 10) + "\r\n" // longer than a record may be
        + "after@example.org,Read after it,,2024-01-12,\r\n";

    /// <summary>The import of <see cref="MessyFile"/> on one database, as text: counts, the errors file, every reader and the status counts.</summary>
    private static async Task<string> ImportMessyFileAsync(DatabaseProvider provider)
    {
        using var app = new NewsletterApp(provider: provider);
        await ImportAsync(app, "email,subscribed\nold@example.org,2020-01-01\n");
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            db.Suppressions.Add(new Suppression { EmailHash = app.AddressHash("gone@example.org"), Reason = SuppressionReason.Erased });
            await db.SaveChangesAsync(Ct);
        }

        var import = await ImportAsync(app, MessyFile, tags: "Spring 2024");
        var errors = string.Join("\n", await ErrorLinesAsync(app, import.Id));
        await using var read = app.Services.CreateAsyncScope();
        var counts = await SubscriberCounts.ReadAsync(read.ServiceProvider.GetRequiredService<AppDbContext>(), Ct);
        static string Day(DateTime? d) => d?.ToString("yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture) ?? "-";
        var readers = (await AllAsync(app)).Select(r => $"{r.Email}|{r.EmailKey}|{r.Name}|{r.Status}|{r.Source == $"import:{import.Id}"}|{r.ConsentSource}|{Day(r.CreatedAt)}|{Day(r.ConfirmedAt)}|{string.Join(' ', r.Tags.Select(t => t.Tag).Order(StringComparer.Ordinal))}");
        return string.Join("\n", [
            $"{import.Status} rows={import.Rows} imported={import.Imported} duplicates={import.Duplicates} suppressed={import.Suppressed} invalid={import.Invalid}",
            import.Error ?? "",
            errors,
            .. readers,
            string.Join(' ', counts.OrderBy(c => c.Key).Select(c => $"{c.Key}={c.Value}"))]);
    }

    [Fact]
    public async Task AHostileFileImportsTheSameOnSqliteAndPostgreSql()
    {
        var sqlite = await ImportMessyFileAsync(DatabaseProvider.Sqlite);
        var postgres = await ImportMessyFileAsync(DatabaseProvider.PostgreSql);
        Assert.Equal(sqlite, postgres);
        var lines = postgres.Split('\n');
        Assert.Equal("Completed rows=15 imported=7 duplicates=2 suppressed=2 invalid=4", lines[0]);
        Assert.Equal("", lines[1]);
        // The quoted CRLF makes the first reader two lines, so the overlong record is on line 16.
        Assert.Contains("16,,the record starting on line 16 is longer than 64 KB", postgres, StringComparison.Ordinal);
        Assert.Contains("first@example.org|first@example.org|Ada Lovelace|Active|True|test consent|2024-01-02 00:00:00|2024-01-02 00:00:00|history math spring-2024", postgres, StringComparison.Ordinal);
        Assert.Contains("tags@example.org|tags@example.org|Tags|Active|True|test consent|2024-01-10 00:00:00|2024-02-01 00:00:00|a-b c spring-2024", postgres, StringComparison.Ordinal);
        Assert.Contains("Mixed.Case@example.org|mixed.case@example.org|", postgres, StringComparison.Ordinal);
        Assert.Contains("|NameWithControls|", postgres, StringComparison.Ordinal);
        Assert.Contains("after@example.org|after@example.org|Read after it|", postgres, StringComparison.Ordinal);
        Assert.Equal("Active=8", lines[^1]);
    }

    [Fact]
    public async Task ALatin1ByteAndA50MBFieldAreReportedOnTheirLinesAndTheOtherRowsImportOnBothDatabases()
    {
        foreach (var provider in new[] { DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql })
        {
            using var app = new NewsletterApp(provider: provider);
            var utf8 = new UTF8Encoding(false);
            using var file = new MemoryStream();
            file.Write(utf8.GetBytes("email,name\nrow2@example.org,Ada\nrow3@example.org,Caf"));
            file.WriteByte(0xE9); // "é" as Windows-1252 writes it: not UTF-8
            file.Write(utf8.GetBytes("\nrow4@example.org,Zo\u00eb\nrow5@example.org,"));
            file.Write(Enumerable.Repeat((byte)'y', 50 * 1024 * 1024).ToArray());
            file.Write(utf8.GetBytes("\nrow6@example.org,Grace\n"));
            var import = await ImportBytesAsync(app, file.ToArray());
            Assert.Equal(ImportStatus.Completed, import.Status);
            Assert.Equal(3, import.Imported);
            Assert.Equal(2, import.Invalid);
            Assert.Equal(["row2@example.org", "row4@example.org", "row6@example.org"], (await AllAsync(app)).Select(s => s.Email));
            Assert.Equal("Zo\u00eb", (await AllAsync(app)).Single(s => s.Email == "row4@example.org").Name);
            var errors = await ErrorLinesAsync(app, import.Id);
            Assert.Equal(3, errors.Length);
            Assert.StartsWith("3,,\"the row is not UTF-8", errors[1], StringComparison.Ordinal);
            Assert.StartsWith("5,,the record starting on line 5 is longer than", errors[2], StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task EveryImportedReaderHasAnImportedHistoryLineOnBothDatabases()
    {
        foreach (var provider in new[] { DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql })
        {
            using var app = new NewsletterApp(provider: provider);
            await ImportAsync(app, "email\nold@example.org\n");
            // Only the readers this import added get the line: not the duplicate, not the one on the list.
            var import = await ImportAsync(app, "email\nnew@example.org\nNEW@example.org\nold@example.org\nother@example.org\n");
            await using var scope = app.Services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            var added = await db.Subscribers.Where(s => s.Source == $"import:{import.Id}").Select(s => s.Id).OrderBy(id => id).ToListAsync(Ct);
            var events = await db.SubscriberEvents.AsNoTracking().Where(e => added.Contains(e.SubscriberId)).OrderBy(e => e.SubscriberId).ToListAsync(Ct);
            Assert.Equal(2, added.Count);
            Assert.Equal(added, events.Select(e => e.SubscriberId));
            Assert.All(events, e =>
            {
                Assert.Equal(SubscriberEventKind.Imported, e.Kind);
                Assert.Equal($"import:{import.Id}", e.Source);
                Assert.Equal(import.StartedAt!.Value, e.At, TimeSpan.FromMinutes(1));
            });
        }
    }

    [Fact]
    public async Task ErrorLineNumbersAreTheFilesLinesWithTheHeaderAsLineOne()
    {
        using var app = new NewsletterApp();
        // Blank lines before the header and a quoted field over two lines: every number is still an editor's.
        var csv = "\n\nemail,name\nok@example.org,\"two\nlines\"\nbroken@\nb@example.org,\"" + new string('z', CsvReader.MaxRecordLength) + "\"\nalso-broken\n";
        var import = await ImportAsync(app, csv);
        Assert.Equal(1, import.Imported);
        var errors = await ErrorLinesAsync(app, import.Id);
        Assert.StartsWith("6,broken@,", errors[1], StringComparison.Ordinal);
        Assert.StartsWith("7,,the record starting on line 7 ", errors[2], StringComparison.Ordinal);
        Assert.StartsWith("8,also-broken,", errors[3], StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnExportImportsBackAsTheSameAddressesAndNames()
    {
        using var app = new NewsletterApp();
        await ImportAsync(app, "email,name\n+x@example.com,=1+1\n-y@example.com,@home\nplain@example.com,'quoted'\n");
        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(client);
        var export = await client.GetByteArrayAsync("/admin/subscribers/export.csv", Ct);
        Assert.Contains("'+x@example.com", Encoding.UTF8.GetString(export), StringComparison.Ordinal); // the guard is there

        using var other = new NewsletterApp();
        var import = await ImportBytesAsync(other, export);
        Assert.Equal(3, import.Imported);
        Assert.Equal(
            ["+x@example.com|=1+1", "-y@example.com|@home", "plain@example.com|'quoted'"],
            (await AllAsync(other)).Select(s => $"{s.Email}|{s.Name}"));
    }

    [Fact]
    public async Task QuotedFieldsWithCommasQuotesAndNewlinesAreReadWhole()
    {
        using var app = new NewsletterApp();
        var import = await ImportAsync(app, "email,name,tags\r\na@example.org,\"Lovelace, Ada\",\"math,history\"\r\nb@example.org,\"She said \"\"hi\"\"\nand left\",\r\n");
        Assert.Equal(2, import.Imported);
        var rows = await AllAsync(app);
        Assert.Equal("Lovelace, Ada", rows[0].Name);
        Assert.Equal(["history", "math"], rows[0].Tags.Select(t => t.Tag).Order());
        Assert.Equal("She said \"hi\" and left", rows[1].Name); // the line break in the field is a space
    }

    [Fact]
    public async Task ABomSemicolonsAndEmptyLinesAreHandled()
    {
        using var app = new NewsletterApp();
        var import = await ImportAsync(app, "E-Mail;Full Name\n\na@example.org;Ada\n\n\nb@example.org;Grace\n", encoding: new UTF8Encoding(true));
        Assert.Equal(2, import.Imported);
        Assert.Equal(0, import.Invalid);
        Assert.Equal(ImportStatus.Completed, import.Status);
    }

    /// <summary>
    /// Excel, for a locale whose list separator is not a comma, starts the file with "sep=;". That line names the
    /// separator and the header follows; it was read as a header with no email column and the import failed.
    /// A refused row's line number still counts the hint.
    /// </summary>
    [Theory]
    [InlineData("sep=;\r\n")]
    [InlineData("\"sep=;\"\r\n")]
    public async Task AnExcelSeparatorHintIsReadAsTheSeparator(string hint)
    {
        using var app = new NewsletterApp();
        var import = await ImportAsync(app, hint + "Email;Name\r\na@example.org;Lovelace, Ada\r\nnot-an-address;Nobody\r\n", encoding: new UTF8Encoding(true));
        Assert.Equal(ImportStatus.Completed, import.Status);
        Assert.Equal((1, 1), (import.Imported, import.Invalid));
        Assert.Equal("Lovelace, Ada", (await SubscribeTests.FindAsync(app, "a@example.org"))!.Name);
        await using var scope = app.Services.CreateAsyncScope();
        await using var errors = await scope.ServiceProvider.GetRequiredService<ImportFiles>().OpenReadAsync(SubscriberImporter.ErrorsName(import.Id), Ct);
        Assert.Contains("\n4,not-an-address,", await new StreamReader(errors!).ReadToEndAsync(Ct), StringComparison.Ordinal);
    }

    /// <summary>
    /// The database refuses a row in the middle of a file (a trigger raises on one address, as a full disk or a
    /// broken connection would fail a write), with many rows still to read after it. The import must stop, keep
    /// exactly the batches committed before the failure and say so, and leave nothing of the batch that was open.
    /// </summary>
    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.PostgreSql)]
    public async Task AWriteThatFailsMidFileStopsTheImportAndKeepsOnlyTheCommittedBatches(DatabaseProvider provider)
    {
        using var app = new NewsletterApp(provider: provider);
        int batchSize;
        await using (var scope = app.Services.CreateAsyncScope())
        {
            batchSize = scope.ServiceProvider.GetRequiredService<SubscriberImportWriter>().BatchSize;
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            await db.Database.ExecuteSqlRawAsync(provider == DatabaseProvider.Sqlite
                ? """CREATE TRIGGER "test_refuse" BEFORE INSERT ON "Subscribers" WHEN NEW."Email" = 'refused@example.org' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"""
                : """
                  CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$;
                  CREATE TRIGGER test_refuse BEFORE INSERT ON "Subscribers" FOR EACH ROW WHEN (NEW."Email" = 'refused@example.org') EXECUTE FUNCTION test_refuse();
                  """, Ct);
        }

        // One and a half batches before the refused row, then many rows still to read after it.
        var before = batchSize + batchSize / 2;
        var csv = new StringBuilder("email\n");
        for (var i = 0; i < before; i++)
        {
            csv.Append(CultureInfo.InvariantCulture, $"r{i}@example.org\n");
        }

        csv.Append("refused@example.org\n");
        for (var i = 0; i < 40_000; i++)
        {
            csv.Append(CultureInfo.InvariantCulture, $"after{i}@example.org\n");
        }

        await using (var scope = app.Services.CreateAsyncScope())
        {
            var sp = scope.ServiceProvider;
            var import = await SubscriberImporter.StoreAsync(sp.GetRequiredService<AppDbContext>(), sp.GetRequiredService<ImportFiles>(), new MemoryStream(Encoding.UTF8.GetBytes(csv.ToString())), "test.csv", true, "test consent", null, Ct);
            var failure = await Assert.ThrowsAnyAsync<System.Data.Common.DbException>(() => sp.GetRequiredService<SubscriberImporter>().ImportAsync(import, Ct));
            Assert.Contains("refused by the test", failure.Message, StringComparison.Ordinal);
        }

        await using var read = app.Services.CreateAsyncScope();
        var stored = await read.ServiceProvider.GetRequiredService<AppDbContext>().SubscriberImports.AsNoTracking().SingleAsync(Ct);
        Assert.Equal(ImportStatus.Failed, stored.Status);
        Assert.Contains("refused by the test", stored.Error, StringComparison.Ordinal);
        Assert.Equal(batchSize, stored.Imported);
        Assert.Equal(batchSize, await read.ServiceProvider.GetRequiredService<AppDbContext>().Subscribers.CountAsync(Ct));
        Assert.False(await read.ServiceProvider.GetRequiredService<AppDbContext>().Subscribers.AnyAsync(s => s.Email == "r" + (batchSize + 1) + "@example.org" || s.Email.StartsWith("after"), Ct));
        Assert.InRange(stored.Rows, before + 1, before + 1 + 40_000);
        Assert.False(await read.ServiceProvider.GetRequiredService<ImportFiles>().ExistsAsync(SubscriberImporter.UploadName(stored.Id), Ct));
    }

    /// <summary>
    /// Two and a half batches, with an address of the first batch again in the second and one of the second again in
    /// the third. On PostgreSQL the next batch is read and copied on a second connection while the last one merges,
    /// so this holds that they still commit in file order: the first row of an address is the one kept, the readers'
    /// ids follow the file across batches (the list's newest-first order), and the progress row ends at the file's end.
    /// </summary>
    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.PostgreSql)]
    public async Task BatchesCommitInFileOrderSoTheFirstRowOfAnAddressWins(DatabaseProvider provider)
    {
        using var app = new NewsletterApp(provider: provider);
        await TwoAndAHalfBatchesInFileOrderAsync(app.Services);
    }

    /// <summary>
    /// A server at its connection limit (here: the second connection points at a closed port) still gets the import:
    /// the batches are read and merged in turn on the one connection, with the same result, and the log says so.
    /// </summary>
    [Fact]
    public async Task WithoutASecondConnectionThePostgresImportGoesOnOneConnection()
    {
        using var app = new NewsletterApp(provider: DatabaseProvider.PostgreSql);
        using var oneConnection = app.WithWebHostBuilder(b => b.ConfigureServices(s =>
        {
            s.RemoveAll<SubscriberImportWriter>();
            s.AddSingleton<SubscriberImportWriter>(new NoSecondConnection(new PostgresSubscriberImportWriter()));
        }));
        await TwoAndAHalfBatchesInFileOrderAsync(oneConnection.Services);
        Assert.Contains("no second database connection", app.ServerLog.ToString(), StringComparison.Ordinal);
    }

    private sealed class NoSecondConnection(SubscriberImportWriter inner) : SubscriberImportWriter
    {
        public override int BatchSize => inner.BatchSize;

        public override ImportBatchWriter Open(System.Data.Common.DbConnection connection, ImportTarget target) => inner.Open(connection, target);

        public override System.Data.Common.DbConnection? OverlapConnection(System.Data.Common.DbConnection connection) =>
            new Npgsql.NpgsqlConnection("Host=127.0.0.1;Port=1;Timeout=3;Username=nobody");
    }

    private static async Task TwoAndAHalfBatchesInFileOrderAsync(IServiceProvider services)
    {
        int batchSize;
        await using (var scope = services.CreateAsyncScope())
        {
            batchSize = scope.ServiceProvider.GetRequiredService<SubscriberImportWriter>().BatchSize;
        }

        var rows = (2 * batchSize) + (batchSize / 2);
        var (againInSecond, againInThird) = (batchSize + 10, (2 * batchSize) + 3);
        var (firstOfSecond, firstOfThird) = (5, batchSize + 20);
        var csv = new StringBuilder("email,name\n");
        var expected = new List<string>(rows);
        for (var i = 0; i < rows; i++)
        {
            if (i == againInSecond || i == againInThird)
            {
                csv.Append(CultureInfo.InvariantCulture, $"R{(i == againInSecond ? firstOfSecond : firstOfThird)}@example.org,Later\n");
                continue;
            }

            csv.Append(CultureInfo.InvariantCulture, $"r{i}@example.org,Name {i}\n");
            expected.Add($"r{i}@example.org");
        }

        await using (var scope = services.CreateAsyncScope())
        {
            var sp = scope.ServiceProvider;
            var import = await SubscriberImporter.StoreAsync(sp.GetRequiredService<AppDbContext>(), sp.GetRequiredService<ImportFiles>(), new MemoryStream(Encoding.UTF8.GetBytes(csv.ToString())), "test.csv", true, "test consent", null, Ct);
            await sp.GetRequiredService<SubscriberImporter>().ImportAsync(import, Ct);
            Assert.Equal(ImportStatus.Completed, import.Status);
            Assert.Equal(rows - 2, import.Imported);
            Assert.Equal(2, import.Duplicates);
        }

        await using var read = services.CreateAsyncScope();
        var db = read.ServiceProvider.GetRequiredService<AppDbContext>();
        Assert.Equal(expected, await db.Subscribers.AsNoTracking().OrderBy(s => s.Id).Select(s => s.Email).ToListAsync(Ct));
        Assert.Equal($"Name {firstOfSecond}", (await db.Subscribers.SingleAsync(s => s.EmailKey == $"r{firstOfSecond}@example.org", Ct)).Name);
        Assert.Equal($"Name {firstOfThird}", (await db.Subscribers.SingleAsync(s => s.EmailKey == $"r{firstOfThird}@example.org", Ct)).Name);
        Assert.Equal(rows - 2, await db.SubscriberEvents.CountAsync(e => e.Kind == SubscriberEventKind.Imported, Ct));
        var stored = await db.SubscriberImports.AsNoTracking().SingleAsync(Ct);
        Assert.Equal((rows, rows - 2, 2, ImportStatus.Completed), (stored.Rows, stored.Imported, stored.Duplicates, stored.Status));
        Assert.Equal(stored.FileSize, stored.BytesRead);
    }

    /// <summary>
    /// The second connection is made from the first, which no longer shows its password once open: a cluster that
    /// asks for one would refuse the copy of a connection string without it.
    /// </summary>
    [Fact]
    public async Task ThePostgresImportsSecondConnectionKeepsThePassword()
    {
        using var app = new NewsletterApp(provider: DatabaseProvider.PostgreSql);
        await using var scope = app.Services.CreateAsyncScope();
        var writer = scope.ServiceProvider.GetRequiredService<SubscriberImportWriter>();
        await using var first = new Npgsql.NpgsqlConnection(app.PostgresConnectionString + ";Password=s3cret-for-the-test");
        await first.OpenAsync(Ct);
        Assert.DoesNotContain("s3cret", first.ConnectionString, StringComparison.Ordinal);
        await using var second = writer.OverlapConnection(first)!;
        Assert.Equal("s3cret-for-the-test", new Npgsql.NpgsqlConnectionStringBuilder(second.ConnectionString).Password);
        await second.OpenAsync(Ct);
    }

    [Fact]
    public async Task InvalidRowsAreReportedWithLineNumbersAndTheRestImport()
    {
        using var app = new NewsletterApp();
        var import = await ImportAsync(app, "email\ngood@example.org\nnot-an-address\n=HYPERLINK(\"http://evil\")@x\nalso.good@example.org\n");
        Assert.Equal(2, import.Imported);
        Assert.Equal(2, import.Invalid);
        var errors = await ErrorLinesAsync(app, import.Id);
        Assert.Equal("line,email,reason", errors[0]);
        Assert.StartsWith("3,not-an-address,", errors[1], StringComparison.Ordinal);
        Assert.StartsWith("4,", errors[2], StringComparison.Ordinal);
        Assert.Contains("'=HYPERLINK", errors[2], StringComparison.Ordinal); // defused for spreadsheets
    }

    [Fact]
    public async Task DuplicatesInTheFileAndOnTheListAreSkippedAndCounted()
    {
        using var app = new NewsletterApp();
        await ImportAsync(app, "email\nold@example.org\n");
        var import = await ImportAsync(app, "email\nnew@example.org\nNEW@example.org\nold@example.org\n");
        Assert.Equal(1, import.Imported);
        Assert.Equal(2, import.Duplicates);
        Assert.Equal(2, (await AllAsync(app)).Count);
    }

    [Fact]
    public async Task SuppressedAndErasedAddressesStayOut()
    {
        using var app = new NewsletterApp();
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            db.Suppressions.Add(new Suppression { EmailHash = app.AddressHash("gone@example.org"), Reason = SuppressionReason.Erased });
            await db.SaveChangesAsync(Ct);
        }

        var import = await ImportAsync(app, "email\nGone@Example.org\nstays@example.org\n");
        Assert.Equal(1, import.Suppressed);
        Assert.Equal(1, import.Imported);
        Assert.DoesNotContain(await AllAsync(app), s => s.EmailKey == "gone@example.org");
    }

    [Theory]
    [InlineData('\t')]
    [InlineData('|')]
    public async Task TabAndPipeDelimitedFilesAreReadByTheirHeader(char delimiter)
    {
        using var app = new NewsletterApp();
        var d = delimiter.ToString();
        var import = await ImportAsync(app, $"email{d}first name{d}last name{d}tags\na@example.org{d}Ada{d}Lovelace{d}math, history\n");
        Assert.Equal(1, import.Imported);
        var s = Assert.Single(await AllAsync(app));
        Assert.Equal("Ada Lovelace", s.Name);
        Assert.Equal(["history", "math"], s.Tags.Select(t => t.Tag).Order());
    }

    [Fact]
    public async Task HostileRowsAreCleanedOrReportedNeverImportedAsTheyCame()
    {
        using var app = new NewsletterApp();
        var csv = "email,name\n"
            + "clean@example.org,\"Name\r\nBcc: everyone@example.org\"\n"  // a header-injection attempt in a name
            + "\"quoted@example.org\",\"<script>alert(1)</script>\"\n"   // markup is text, shown encoded
            + "nul\u0000@example.org,Nul\n"                                  // control characters in an address
            + "\"two@example.org, three@example.org\",Two\n"                // a list where an address should be
            + "wide@example.org," + new string('x', 5000) + "\n";             // a name longer than any name
        var import = await ImportAsync(app, csv);
        Assert.Equal(3, import.Imported);
        Assert.Equal(2, import.Invalid);
        var rows = await AllAsync(app);
        Assert.Equal("Name Bcc: everyone@example.org", rows.Single(r => r.EmailKey == "clean@example.org").Name);
        Assert.Equal("<script>alert(1)</script>", rows.Single(r => r.EmailKey == "quoted@example.org").Name);
        Assert.Equal(200, rows.Single(r => r.EmailKey == "wide@example.org").Name!.Length);
        var errors = await ErrorLinesAsync(app, import.Id);
        Assert.StartsWith("5,", errors[1], StringComparison.Ordinal);
        Assert.StartsWith("6,", errors[2], StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("", "The file is empty.")]
    [InlineData("name,tags\nAda,math\n", "The header has no email column")]
    public async Task AFileThatCannotBeReadFailsWithASentence(string csv, string message)
    {
        using var app = new NewsletterApp();
        var import = await ImportAsync(app, csv);
        Assert.Equal(ImportStatus.Failed, import.Status);
        Assert.Contains(message, import.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheJobOfAFileWithNoEmailColumnEndsCleanlyWithTheSentenceOnTheImport()
    {
        // As Hangfire runs it: the file's fault is the import's Failed status and its sentence, not a failed job
        // with a stack trace on the jobs page.
        using var app = new NewsletterApp();
        await using var scope = app.Services.CreateAsyncScope();
        var sp = scope.ServiceProvider;
        var import = await SubscriberImporter.StoreAsync(sp.GetRequiredService<AppDbContext>(), sp.GetRequiredService<ImportFiles>(),
            new MemoryStream("name,tags\nAda,math\n"u8.ToArray()), "no-email.csv", true, "test consent", null, Ct);
        await sp.GetRequiredService<SubscriberImporter>().RunAsync(import.Id, Ct);
        var stored = await sp.GetRequiredService<AppDbContext>().SubscriberImports.AsNoTracking().SingleAsync(i => i.Id == import.Id, Ct);
        Assert.Equal(ImportStatus.Failed, stored.Status);
        Assert.Contains("The header has no email column", stored.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AHeaderOnlyFileCompletesWithNothingToImport()
    {
        using var app = new NewsletterApp();
        var import = await ImportAsync(app, "email,name\n");
        Assert.Equal(ImportStatus.Completed, import.Status);
        Assert.Equal(0, import.Rows);
    }

    [Fact]
    public async Task TheRowsWithErrorsDownloadAsCsvWithTheirLineNumbers()
    {
        using var app = new NewsletterApp();
        var import = await ImportAsync(app, "email\nfine@example.org\nbroken@\n");
        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(client);
        var response = await client.GetAsync($"/admin/subscribers/imports/{import.Id}/errors.csv", Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/csv", response.Content.Headers.ContentType!.MediaType);
        Assert.Contains("attachment", response.Content.Headers.ContentDisposition!.DispositionType, StringComparison.Ordinal);
        var lines = (await response.Content.ReadAsStringAsync(Ct)).Trim().Split('\n');
        Assert.Equal("line,email,reason", lines[0]);
        Assert.StartsWith("3,broken@,", lines[1], StringComparison.Ordinal);
        var status = await client.GetStringAsync($"/admin/subscribers/imports/{import.Id}", Ct);
        Assert.Contains($"/admin/subscribers/imports/{import.Id}/errors.csv", status, StringComparison.Ordinal);
        // The page shows the first of them too, with the line and the reason.
        Assert.Matches("<td class=\"num\">3</td><td>broken@</td><td>[^<]+</td>", status);
    }

    [Fact]
    public async Task TwoColumnsForOneFieldFailTheImportWithAClearMessage()
    {
        using var app = new NewsletterApp();
        var import = await ImportAsync(app, "email,Email Address\na@example.org,b@example.org\n");
        await using var scope = app.Services.CreateAsyncScope();
        var stored = await scope.ServiceProvider.GetRequiredService<AppDbContext>().SubscriberImports.SingleAsync(i => i.Id == import.Id, Ct);
        Assert.Equal(0, stored.Imported);
        Assert.Empty(await AllAsync(app));
        Assert.Contains("both look like the same field", import.Error ?? stored.Error ?? "", StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnUnclosedQuoteStopsWithItsLineAndKeepsEarlierRows()
    {
        using var app = new NewsletterApp();
        var import = await ImportAsync(app, "email,name\na@example.org,Ada\nb@example.org,\"never closed\nc@example.org,Grace\nd@example.org,Hopper\n");
        Assert.Single(await AllAsync(app));
        Assert.Equal(1, import.Invalid);
        // The rows after the quote were swallowed by it: the import says so instead of "Completed, 2 rows read".
        await using var scope = app.Services.CreateAsyncScope();
        var stored = await scope.ServiceProvider.GetRequiredService<AppDbContext>().SubscriberImports.AsNoTracking().SingleAsync(i => i.Id == import.Id, Ct);
        Assert.Equal(ImportStatus.Failed, stored.Status);
        Assert.Equal(1, stored.Imported);
        Assert.Contains("opens on line 3 and is never closed", stored.Error, StringComparison.Ordinal);
        Assert.Contains("nothing after line 2 was imported", stored.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PendingImportsSendConfirmationsAndActiveImportsRecordConsent()
    {
        using var app = new NewsletterApp();
        var pending = await ImportAsync(app, "email,name\npending.one@example.org,Pia One\n", active: false);
        Assert.Equal(1, pending.Imported);
        var request = await app.WaitForMailAsync("pending.one@example.org", m => m.TextBody?.Contains("/confirm/", StringComparison.Ordinal) == true);
        // The author added them: the email says so (not "someone, hopefully you"), and greets them by the file's name.
        Assert.Contains("added pending.one@example.org to the list of", request.TextBody, StringComparison.Ordinal);
        Assert.Contains("Hello Pia One,", request.TextBody, StringComparison.Ordinal);
        Assert.Equal("Pia One", request.To.Mailboxes.Single().Name);
        var active = await ImportAsync(app, "email,subscribed\nactive.one@example.org,2024-05-06\n", active: true);
        var s = (await AllAsync(app)).Single(x => x.EmailKey == "active.one@example.org");
        Assert.Equal(SubscriberStatus.Active, s.Status);
        Assert.Equal("test consent", s.ConsentSource);
        Assert.Equal(new DateTime(2024, 5, 6, 0, 0, 0, DateTimeKind.Utc), s.CreatedAt);
        Assert.Equal($"import:{active.Id}", s.Source);
    }

    [Fact]
    public async Task AnUploadRunsAsAJobAndTheProgressEndpointReportsIt()
    {
        using var app = new NewsletterApp();
        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(client);
        var token = await Forms.TokenAsync(client, "/admin/subscribers/import");
        var form = new MultipartFormDataContent
        {
            { new StringContent(token), "__RequestVerificationToken" },
            { new StringContent("pending"), "mode" },
            { new StringContent("imported"), "tags" },
            { new ByteArrayContent(Encoding.UTF8.GetBytes("email\nup1@example.org\nup2@example.org\n")), "file", "list.csv" },
        };
        var response = await client.PostAsync("/admin/subscribers/import", form, Ct);
        Assert.True(response.StatusCode == HttpStatusCode.Redirect, $"{(int)response.StatusCode} from the upload. {app.ServerLog}");
        var id = response.Headers.Location!.OriginalString.Split('/').Last();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        string json;
        do
        {
            await Task.Delay(200, Ct);
            json = await client.GetStringAsync($"/admin/api/imports/{id}", Ct);
        }
        while (!json.Contains("\"done\":true", StringComparison.Ordinal) && DateTime.UtcNow < deadline);
        Assert.Contains("\"imported\":2", json, StringComparison.Ordinal);
        Assert.Contains("\"percent\":100", json, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AfterARestartACutOffImportSaysSoALostOneRunsOnceAndUnsentConfirmationsGoOut()
    {
        using var app = new NewsletterApp();
        await using var scope = app.Services.CreateAsyncScope();
        var sp = scope.ServiceProvider;
        var db = sp.GetRequiredService<AppDbContext>();
        var files = sp.GetRequiredService<ImportFiles>();
        Task<SubscriberImport> StoreAsync(string csv, bool active = true) =>
            SubscriberImporter.StoreAsync(db, files, new MemoryStream(Encoding.UTF8.GetBytes(csv)), "list.csv", active, active ? "test" : null, null, Ct);

        // Cut off mid-way by a stop; one still being read by an import verb in another process; one whose job was lost.
        var cut = await StoreAsync("email\ncut1@example.org\ncut2@example.org\n");
        var busy = await StoreAsync("email\nbusy@example.org\n");
        var lost = await StoreAsync("email\nlost1@example.org\nlost2@example.org\n");
        await db.SubscriberImports.Where(i => i.Id == cut.Id || i.Id == busy.Id).ExecuteUpdateAsync(u => u.SetProperty(i => i.Status, ImportStatus.Running).SetProperty(i => i.Imported, 1), Ct);
        // A pending import that completed, but whose confirmations job never ran.
        var pending = await StoreAsync("email\nunconfirmed@example.org\n", active: false);
        await using (var other = sp.GetRequiredService<IServiceScopeFactory>().CreateAsyncScope())
        {
            var rows = other.ServiceProvider.GetRequiredService<AppDbContext>();
            rows.Subscribers.Add(new Subscriber { Email = "unconfirmed@example.org", EmailKey = "unconfirmed@example.org", Status = SubscriberStatus.Pending, Source = $"import:{pending.Id}" });
            await rows.SaveChangesAsync(Ct);
            await rows.SubscriberImports.Where(i => i.Id == pending.Id).ExecuteUpdateAsync(u => u.SetProperty(i => i.Status, ImportStatus.Completed), Ct);
        }

        // What the ImportRecovery hosted service does at start-up, in a scope of its own.
        // The busy one is held open as its importer holds it, through another scope (on PostgreSQL another session).
        await using (var holder = app.Services.CreateAsyncScope())
        await using (var held = await holder.ServiceProvider.GetRequiredService<ImportFiles>().OpenReadAsync(SubscriberImporter.UploadName(busy.Id), Ct))
        await using (var startup = app.Services.CreateAsyncScope())
        {
            await startup.ServiceProvider.GetRequiredService<SubscriberImporter>().RecoverAsync(Ct);
        }

        // The lost one may now be enqueued twice (recovery and a late job): it still runs once.
        sp.GetRequiredService<IBackgroundJobClient>().Enqueue<SubscriberImporter>(i => i.RunAsync(lost.Id, CancellationToken.None));
        await app.WaitForMailAsync("unconfirmed@example.org");
        var deadline = DateTime.UtcNow.AddSeconds(30);
        SubscriberImport recovered;
        while ((recovered = await db.SubscriberImports.AsNoTracking().SingleAsync(i => i.Id == lost.Id, Ct)).Status != ImportStatus.Completed)
        {
            Assert.True(DateTime.UtcNow < deadline, app.JobDiagnostics());
            await Task.Delay(100, Ct);
        }

        await SubscribeTests.WaitForIdleJobsAsync(app);
        recovered = await db.SubscriberImports.AsNoTracking().SingleAsync(i => i.Id == lost.Id, Ct);
        Assert.Equal((2, 0), (recovered.Imported, recovered.Duplicates));
        var failed = await db.SubscriberImports.AsNoTracking().SingleAsync(i => i.Id == cut.Id, Ct);
        Assert.Equal(ImportStatus.Failed, failed.Status);
        Assert.Contains("Interrupted", failed.Error, StringComparison.Ordinal);
        Assert.Contains("1 rows were imported", failed.Error, StringComparison.Ordinal);
        Assert.False(await files.ExistsAsync(SubscriberImporter.UploadName(cut.Id), Ct));
        // The pending import was marked Completed with its upload still on disk, as a stop between the two
        // leaves it: recovery deletes that copy of every address too.
        Assert.False(await files.ExistsAsync(SubscriberImporter.UploadName(pending.Id), Ct));
        Assert.True(await files.ExistsAsync(SubscriberImporter.UploadName(busy.Id), Ct));
        Assert.Equal(ImportStatus.Running, (await db.SubscriberImports.AsNoTracking().SingleAsync(i => i.Id == busy.Id, Ct)).Status);
    }

    /// <summary>
    /// An erase reaches what imports kept: a refused row's line in the errors file (the row names the person) and an
    /// import's error sentence that quotes the file's first line. Other refused rows stay for the author.
    /// </summary>
    [Fact]
    public async Task AnEraseTakesTheAddressOutOfRefusedRowsAndImportErrors()
    {
        using var app = new NewsletterApp();
        var refused = await ImportAsync(app, "email,status\nErr.Test@example.com,frozen\nother@example.org,frozen\nerr.test@example.com,subscribed\n");
        Assert.Equal(2, refused.Invalid);
        var headerless = await ImportAsync(app, "err.test@example.com,Err Test\n");
        Assert.Equal(ImportStatus.Failed, headerless.Status);
        Assert.Contains("err.test@example.com", headerless.Error, StringComparison.Ordinal);

        await using var scope = app.Services.CreateAsyncScope();
        var sp = scope.ServiceProvider;
        var db = sp.GetRequiredService<AppDbContext>();
        var files = sp.GetRequiredService<ImportFiles>();
        async Task<string> ErrorsAsync()
        {
            await using var file = await files.OpenReadAsync(SubscriberImporter.ErrorsName(refused.Id), Ct);
            return await new StreamReader(file!).ReadToEndAsync(Ct);
        }

        Assert.Contains("Err.Test@example.com", await ErrorsAsync(), StringComparison.Ordinal);
        var id = await db.Subscribers.Where(x => x.EmailKey == "err.test@example.com").Select(x => x.Id).SingleAsync(Ct);
        Assert.True(await sp.GetRequiredService<ReaderLifecycle>().DeleteAsync(id, erase: true, Ct));

        var errors = await ErrorsAsync();
        Assert.DoesNotContain("err.test", errors, StringComparison.OrdinalIgnoreCase);
        Assert.StartsWith("line,email,reason", errors, StringComparison.Ordinal);
        Assert.Contains("other@example.org", errors, StringComparison.Ordinal);
        var error = (await db.SubscriberImports.AsNoTracking().SingleAsync(i => i.Id == headerless.Id, Ct)).Error!;
        Assert.DoesNotContain("err.test", error, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("(an erased address)", error, StringComparison.Ordinal);
    }

    /// <summary>
    /// A pending-mode import cut off by a stop committed readers who wait for a confirmation; uploading the file
    /// again, as the import's page advises, skips them as duplicates. So the cut-off import's own rows are
    /// confirmed when the stop is noticed, once each, and the import says so; rows of a later batch that never
    /// committed are not on the list and get nothing.
    /// </summary>
    [Fact]
    public async Task APendingImportCutOffByAStopStillConfirmsTheRowsItCommitted()
    {
        using var app = new NewsletterApp();
        await using var scope = app.Services.CreateAsyncScope();
        var sp = scope.ServiceProvider;
        var db = sp.GetRequiredService<AppDbContext>();
        var files = sp.GetRequiredService<ImportFiles>();
        var cut = await SubscriberImporter.StoreAsync(db, files, new MemoryStream("email\nfirst@example.org\nsecond@example.org\nnever@example.org\n"u8.ToArray()), "list.csv", false, null, null, Ct);
        // Where the stop left it: two rows committed in the first batch, the third not read.
        db.Subscribers.AddRange(
            new Subscriber { Email = "first@example.org", EmailKey = "first@example.org", Status = SubscriberStatus.Pending, Source = $"import:{cut.Id}" },
            new Subscriber { Email = "second@example.org", EmailKey = "second@example.org", Status = SubscriberStatus.Pending, Source = $"import:{cut.Id}" });
        await db.SaveChangesAsync(Ct);
        await db.SubscriberImports.Where(i => i.Id == cut.Id).ExecuteUpdateAsync(u => u.SetProperty(i => i.Status, ImportStatus.Running).SetProperty(i => i.Imported, 2), Ct);

        // Start-up recovery, twice (two nodes starting at once): each reader is asked once.
        foreach (var _ in new[] { 1, 2 })
        {
            await using var startup = app.Services.CreateAsyncScope();
            await startup.ServiceProvider.GetRequiredService<SubscriberImporter>().RecoverAsync(Ct);
        }

        await app.WaitForMailAsync("first@example.org");
        await app.WaitForMailAsync("second@example.org");
        await SubscribeTests.WaitForIdleJobsAsync(app);
        Assert.Equal(2, Outbox.Read(app.PickupFolder).Count);
        var failed = await db.SubscriberImports.AsNoTracking().SingleAsync(i => i.Id == cut.Id, Ct);
        Assert.Equal(ImportStatus.Failed, failed.Status);
        Assert.Contains("Those imported get their confirmation emails now", failed.Error, StringComparison.Ordinal);
        Assert.All(await db.Subscribers.AsNoTracking().ToListAsync(Ct), s => Assert.NotNull(s.LastConfirmationSentAt));
        Assert.False(await db.Subscribers.AnyAsync(s => s.EmailKey == "never@example.org", Ct));
    }

    /// <summary>
    /// Hangfire hands a job to a live node when the node running it died. The import is then Running with nobody
    /// reading its file: the handed-on run says it was cut off, at once, instead of leaving it Running until that
    /// node starts again. One whose file is being read (by another node, here another scope's session) is left be.
    /// </summary>
    [Fact]
    public async Task AJobHandedOnFromADeadNodeMarksItsImportCutOffButLeavesOneStillBeingRead()
    {
        using var app = new NewsletterApp(new() { ["Jobs:Server"] = "false" });
        await using var scope = app.Services.CreateAsyncScope();
        var sp = scope.ServiceProvider;
        var db = sp.GetRequiredService<AppDbContext>();
        var files = sp.GetRequiredService<ImportFiles>();
        var dead = await SubscriberImporter.StoreAsync(db, files, new MemoryStream("email\na@example.org\n"u8.ToArray()), "a.csv", true, "test", null, Ct);
        var alive = await SubscriberImporter.StoreAsync(db, files, new MemoryStream("email\nb@example.org\n"u8.ToArray()), "b.csv", true, "test", null, Ct);
        await db.SubscriberImports.Where(i => i.Id == dead.Id || i.Id == alive.Id).ExecuteUpdateAsync(u => u.SetProperty(i => i.Status, ImportStatus.Running), Ct);

        await using (var reader = app.Services.CreateAsyncScope())
        {
            var held = await reader.ServiceProvider.GetRequiredService<ImportFiles>().OpenReadAsync(SubscriberImporter.UploadName(alive.Id), Ct);
            Assert.NotNull(held);
            await using (held)
            {
                Assert.True(await files.IsBeingReadAsync(SubscriberImporter.UploadName(alive.Id), Ct));
                await using var run = app.Services.CreateAsyncScope();
                await run.ServiceProvider.GetRequiredService<SubscriberImporter>().RunAsync(alive.Id, Ct);
                await run.ServiceProvider.GetRequiredService<SubscriberImporter>().RunAsync(dead.Id, Ct);
            }
        }

        // Closed, the file is free again at once: on PostgreSQL the reader's lock goes with it, not when its pooled
        // connection is next used.
        Assert.False(await files.IsBeingReadAsync(SubscriberImporter.UploadName(alive.Id), Ct));
        var cut = await db.SubscriberImports.AsNoTracking().SingleAsync(i => i.Id == dead.Id, Ct);
        Assert.Equal(ImportStatus.Failed, cut.Status);
        Assert.Contains("Interrupted", cut.Error, StringComparison.Ordinal);
        Assert.False(await files.ExistsAsync(SubscriberImporter.UploadName(dead.Id), Ct));
        Assert.Equal(ImportStatus.Running, (await db.SubscriberImports.AsNoTracking().SingleAsync(i => i.Id == alive.Id, Ct)).Status);
        Assert.True(await files.ExistsAsync(SubscriberImporter.UploadName(alive.Id), Ct));
        Assert.False(await db.Subscribers.AnyAsync(Ct));
    }

    /// <summary>Start-up recovery lists the stored files once instead of asking about each import: the listing names a folder's own files, no deeper.</summary>
    [Fact]
    public async Task AListingNamesTheFilesDirectlyInAFolder()
    {
        await using var app = new NewsletterApp();
        await using var scope = app.Services.CreateAsyncScope();
        var files = scope.ServiceProvider.GetRequiredService<ImportFiles>();
        Assert.Empty(await files.ListAsync("", Ct));
        foreach (var name in new[] { "7.csv", "7.errors.csv", "posts/x.xml", "posts/deeper/y.xml" })
        {
            await files.SaveAsync(name, new MemoryStream([1, 2, 3]), Ct);
        }

        Assert.Equal(["7.csv", "7.errors.csv"], (await files.ListAsync("", Ct)).Order(StringComparer.Ordinal));
        Assert.Equal(["posts/x.xml"], await files.ListAsync("posts/", Ct));
        Assert.True(await files.DeleteAsync("7.csv", Ct));
        Assert.Equal(["7.errors.csv"], await files.ListAsync("", Ct));
    }

    [Fact]
    public async Task TheExportStreamsTheFilteredListWithFormulasDefused()
    {
        using var app = new NewsletterApp();
        await ImportAsync(app, "email,name\na@example.org,=cmd()\nb@example.org,Bea\n", tags: "vip");
        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(client);
        var csv = await client.GetStringAsync("/admin/subscribers/export.csv?status=active&tag=vip", Ct);
        var lines = csv.Trim().Split('\n');
        Assert.Equal(3, lines.Length);
        Assert.Contains("'=cmd()", lines[1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheListPagesByKeysetAndFiltersByStatusTagAndSearch()
    {
        using var app = new NewsletterApp();
        var sb = new StringBuilder("email,name,tags\n");
        for (var i = 0; i < 120; i++)
        {
            sb.Append(CultureInfo(i)).Append('\n');
        }

        await ImportAsync(app, sb.ToString());
        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(client);
        var first = await client.GetStringAsync("/admin/subscribers", Ct);
        Assert.Contains("r119@example.org", first, StringComparison.Ordinal);
        Assert.DoesNotContain("r069@example.org", first, StringComparison.Ordinal);
        var next = System.Text.RegularExpressions.Regex.Match(first, "href=\"(/admin/subscribers\\?before=\\d+)\"").Groups[1].Value;
        var second = await client.GetStringAsync(next, Ct);
        Assert.Contains("r069@example.org", second, StringComparison.Ordinal);
        var tagged = await client.GetStringAsync("/admin/subscribers?tag=even", Ct);
        Assert.DoesNotContain("r001@example.org", tagged, StringComparison.Ordinal);
        var search = await client.GetStringAsync("/admin/subscribers?q=r11", Ct);
        Assert.Contains("r110@example.org", search, StringComparison.Ordinal);
        Assert.DoesNotContain("r010@example.org", search, StringComparison.Ordinal);
        var byAddress = await client.GetStringAsync("/admin/subscribers?q=R110@Example", Ct);
        Assert.Contains("r110@example.org", byAddress, StringComparison.Ordinal);
        Assert.DoesNotContain("r111@example.org", byAddress, StringComparison.Ordinal);
        Assert.Contains("Reader 7<", await client.GetStringAsync("/admin/subscribers?q=eader%207", Ct), StringComparison.Ordinal);
        // A domain, with or without its '@', and a part from the middle of an address.
        foreach (var domain in new[] { "example.org", "@Example.org" })
        {
            Assert.Contains("r119@example.org", await client.GetStringAsync("/admin/subscribers?q=" + Uri.EscapeDataString(domain), Ct), StringComparison.Ordinal);
        }

        Assert.DoesNotContain("r119@example.org", await client.GetStringAsync("/admin/subscribers?q=%40example.com", Ct), StringComparison.Ordinal);
        Assert.Contains("r105@example.org", await client.GetStringAsync("/admin/subscribers?q=105", Ct), StringComparison.Ordinal);
        Assert.Contains(">120</span><span class=\"stat-label\">active", first.Replace(",", "", StringComparison.Ordinal), StringComparison.Ordinal);

        static string CultureInfo(int i) => $"r{i:000}@example.org,Reader {i},{(i % 2 == 0 ? "even" : "odd")}";
    }
}
