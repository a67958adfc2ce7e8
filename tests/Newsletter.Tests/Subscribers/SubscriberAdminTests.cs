using System.Net;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;
using Newsletter.Web.Data;
using Newsletter.Web.Subscribers;

namespace Newsletter.Tests.Subscribers;

/// <summary>The author looking after the list: add, edit, tag, unsubscribe, delete, erase, and the history.</summary>
public class SubscriberAdminTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<(NewsletterApp App, HttpClient Author)> AppAsync()
    {
        var app = new NewsletterApp();
        var author = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(author);
        return (app, author);
    }

    private static Task<HttpResponseMessage> AddAsync(HttpClient author, string email, string mode = "confirm", string consent = "", string name = "", string tags = "") =>
        Forms.PostAsync(author, "/admin/subscribers/new", new Dictionary<string, string> { ["email"] = email, ["mode"] = mode, ["consent"] = consent, ["name"] = name, ["tags"] = tags });

    private static long IdFrom(HttpResponseMessage response) =>
        long.Parse(response.Headers.Location!.OriginalString.Split('?')[0].Split('/').Last(), System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public async Task AnAddedReaderGetsAConfirmationOrIsActiveWithARecordedConsent()
    {
        var (app, author) = await AppAsync();
        using var _ = app;
        var pending = await AddAsync(author, "met.at.a.talk@example.org", tags: "conference, vip");
        Assert.Equal(HttpStatusCode.Redirect, pending.StatusCode);
        await app.WaitForMailAsync("met.at.a.talk@example.org", m => m.TextBody?.Contains("/confirm/", StringComparison.Ordinal) == true);

        var noConsent = await AddAsync(author, "asked@example.org", mode: "active");
        Assert.Contains("needs a recorded consent", await noConsent.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        var active = await AddAsync(author, "asked@example.org", mode: "active", consent: "asked in person, 2026-10-03", name: "Asked");
        var s = (await SubscribeTests.FindAsync(app, "asked@example.org"))!;
        Assert.Equal(SubscriberStatus.Active, s.Status);
        Assert.Equal("asked in person, 2026-10-03", s.ConsentSource);

        var detail = await author.GetStringAsync($"/admin/subscribers/{IdFrom(active)}", Ct);
        Assert.Contains("Added by an author · admin · active; consent: asked in person, 2026-10-03", WebUtility.HtmlDecode(detail), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("not an address", "can't contain spaces")]
    [InlineData("a@b@example.org", "exactly one @")]
    [InlineData("line\r\nbreak@example.org", "line breaks")]
    [InlineData("dup@example.org", "already on the list")]
    [InlineData("gone@example.org", "suppressed")]
    public async Task BadAddsAreRefusedWithAReasonAndChangeNothing(string email, string reason)
    {
        var (app, author) = await AppAsync();
        using var _ = app;
        await AddAsync(author, "dup@example.org", mode: "active", consent: "test");
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            db.Suppressions.Add(new Suppression { EmailHash = app.AddressHash("gone@example.org"), Reason = SuppressionReason.Erased });
            await db.SaveChangesAsync(Ct);
        }

        var response = await AddAsync(author, email, mode: "active", consent: "test");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains(reason, WebUtility.HtmlDecode(await response.Content.ReadAsStringAsync(Ct)), StringComparison.Ordinal);
        await using var check = app.Services.CreateAsyncScope();
        Assert.Equal(1, await check.ServiceProvider.GetRequiredService<AppDbContext>().Subscribers.CountAsync(Ct));
    }

    [Fact]
    public async Task TheAuthorEditsNameAndTagsUnsubscribesAndDeletesAndTheHistorySaysSo()
    {
        var (app, author) = await AppAsync();
        using var _ = app;
        var id = IdFrom(await AddAsync(author, "edit.me@example.org", mode: "active", consent: "test", tags: "old"));
        var page = $"/admin/subscribers/{id}";
        await Forms.PostAsync(author, page, new Dictionary<string, string> { ["name"] = "Edith\nMe", ["tags"] = "Early Readers, vip, vip" }, page + "?handler=Save");
        var s = await FindWithTagsAsync(app, id);
        Assert.Equal("Edith Me", s!.Name);
        Assert.Equal(["early-readers", "vip"], s.Tags.Select(t => t.Tag).Order());
        // The history says what changed: only the tags, then nothing (no line), then only the name.
        await Forms.PostAsync(author, page, new Dictionary<string, string> { ["name"] = "Edith Me", ["tags"] = "vip" }, page + "?handler=Save");
        await Forms.PostAsync(author, page, new Dictionary<string, string> { ["name"] = "Edith Me", ["tags"] = "vip" }, page + "?handler=Save");
        await Forms.PostAsync(author, page, new Dictionary<string, string> { ["name"] = "Edith", ["tags"] = "vip" }, page + "?handler=Save");
        var edits = System.Text.RegularExpressions.Regex.Matches(WebUtility.HtmlDecode(await author.GetStringAsync(page, Ct)), "Edited by an author · admin · ([^<]*)").Select(m => m.Groups[1].Value.Trim()).ToList();
        Assert.Equal(["name", "tags: vip", "name and tags: early-readers, vip"], edits);
        await Forms.PostAsync(author, page, new Dictionary<string, string> { ["name"] = "Edith Me", ["tags"] = "Early Readers, vip" }, page + "?handler=Save");

        // Tags filter the list; unsubscribing moves the reader between the counts.
        Assert.Contains("edit.me@example.org", await author.GetStringAsync("/admin/subscribers?tag=vip", Ct), StringComparison.Ordinal);
        await Forms.PostAsync(author, page, new Dictionary<string, string>(), page + "?handler=Unsubscribe");
        Assert.Equal(SubscriberStatus.Unsubscribed, (await FindWithTagsAsync(app, id))!.Status);
        var list = (await author.GetStringAsync("/admin/subscribers?status=unsubscribed", Ct)).Replace(",", "", StringComparison.Ordinal);
        Assert.Contains(">1</span><span class=\"stat-label\">unsubscribed", list, StringComparison.Ordinal);
        Assert.Contains("edit.me@example.org", list, StringComparison.Ordinal);

        var history = WebUtility.HtmlDecode(await author.GetStringAsync(page, Ct));
        Assert.Contains("Edited by an author · admin · name and tags: early-readers, vip", history, StringComparison.Ordinal);
        Assert.Contains("Unsubscribed · admin", history, StringComparison.Ordinal);
        Assert.Matches(@"<time datetime=""\d{4}-\d\d-\d\dT[^""]+"">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d</time>", history);

        // One who unsubscribed is kept: deleting them forgot the choice, and the add below made them active again.
        var refused = await Forms.PostAsync(author, page, new Dictionary<string, string>(), page + "?handler=Delete");
        Assert.Equal(HttpStatusCode.Redirect, refused.StatusCode);
        Assert.NotNull(await FindWithTagsAsync(app, id));
        Assert.Contains("This reader unsubscribed, so they are kept", WebUtility.HtmlDecode(await author.GetStringAsync(page, Ct)), StringComparison.Ordinal);

        // A reader who never left, deleted twice (a double click): one deletion, a calm answer both times, and the
        // address may come back.
        Assert.Equal(HttpStatusCode.Redirect, (await AddAsync(author, "never.left@example.org", mode: "active", consent: "asked")).StatusCode);
        var otherPage = $"/admin/subscribers/{(await SubscribeTests.FindAsync(app, "never.left@example.org"))!.Id}";
        var first = await Forms.PostAsync(author, otherPage, new Dictionary<string, string>(), otherPage + "?handler=Delete");
        var second = await Forms.PostAsync(author, "/admin/subscribers/new", new Dictionary<string, string>(), otherPage + "?handler=Delete");
        Assert.Equal(HttpStatusCode.Redirect, first.StatusCode);
        Assert.Equal(HttpStatusCode.Redirect, second.StatusCode);
        Assert.Null(await SubscribeTests.FindAsync(app, "never.left@example.org"));
        Assert.Equal(HttpStatusCode.NotFound, (await author.GetAsync(otherPage, Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Redirect, (await AddAsync(author, "never.left@example.org", mode: "active", consent: "came back")).StatusCode);
    }

    [Fact]
    public async Task TheStatusCountsStayExactThroughInsertsStatusChangesAndDeletesFromAnyPath()
    {
        var (app, author) = await AppAsync();
        using var _ = app;
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        async Task AssertExactAsync()
        {
            var counted = await db.Subscribers.GroupBy(s => s.Status).Select(g => new { g.Key, Count = g.Count() }).ToDictionaryAsync(x => x.Key, x => x.Count, Ct);
            Assert.Equal(counted.OrderBy(c => c.Key), (await SubscriberCounts.ReadAsync(db, Ct)).OrderBy(c => c.Key));
        }

        // Prepared statements of the importer, EF inserts, EF set-based updates, raw SQL, deletes.
        var import = await Web.Subscribers.Import.SubscriberImporter.StoreAsync(db, scope.ServiceProvider.GetRequiredService<Web.Data.Providers.ImportFiles>(),
            new MemoryStream(Encoding.UTF8.GetBytes("email\n" + string.Join("\n", Enumerable.Range(0, 10).Select(i => $"i{i}@example.org")))), "a.csv", true, "test", null, Ct);
        await scope.ServiceProvider.GetRequiredService<Web.Subscribers.Import.SubscriberImporter>().ImportAsync(import, Ct);
        await AddAsync(author, "pending@example.org");
        await AssertExactAsync();
        await db.Subscribers.Where(s => s.EmailKey == "i1@example.org").ExecuteUpdateAsync(u => u.SetProperty(s => s.Status, SubscriberStatus.Unsubscribed), Ct);
        await db.Database.ExecuteSqlRawAsync("UPDATE \"Subscribers\" SET \"Status\" = 3 WHERE \"EmailKey\" = 'i2@example.org'", Ct);
        await db.Subscribers.Where(s => s.EmailKey == "i3@example.org").ExecuteUpdateAsync(u => u.SetProperty(s => s.Name, "no status change"), Ct);
        await db.Subscribers.Where(s => s.EmailKey == "i4@example.org").ExecuteDeleteAsync(Ct);
        await AssertExactAsync();
        var page = (await author.GetStringAsync("/admin/subscribers", Ct)).Replace(",", "", StringComparison.Ordinal);
        Assert.Contains(">10</span><span class=\"stat-label\">everyone", page, StringComparison.Ordinal);
        Assert.Contains(">7</span><span class=\"stat-label\">active", page, StringComparison.Ordinal);
        Assert.Contains(">1</span><span class=\"stat-label\">bounced", page, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnEraseLeavesNoCopyOfTheAddressInTheDatabaseFileTheOutboxOrTheImportsFolder()
    {
        var (app, author) = await AppAsync();
        using var _ = app;
        // In by import (so a copy of the file was stored), then mailed (so the outbox has a copy).
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var sp = scope.ServiceProvider;
            var import = await Web.Subscribers.Import.SubscriberImporter.StoreAsync(sp.GetRequiredService<AppDbContext>(), sp.GetRequiredService<Web.Data.Providers.ImportFiles>(),
                new MemoryStream(Encoding.UTF8.GetBytes("email,name\nunique.reader.7q@example.org,Quentin Sevenq\nstays@example.org,Stays\n")), "list.csv", false, null, null, Ct);
            await sp.GetRequiredService<Web.Subscribers.Import.SubscriberImporter>().ImportAsync(import, Ct);
        }

        await app.WaitForMailAsync("unique.reader.7q@example.org");
        await app.WaitForMailAsync("stays@example.org");
        // The confirmations job writes its history after each mail: let it finish, so the erase is not
        // racing a write that would fail on the erased reader and be retried.
        await SubscribeTests.WaitForIdleJobsAsync(app);
        var id = (await SubscribeTests.FindAsync(app, "unique.reader.7q@example.org"))!.Id;
        // The same person signed up again a moment ago, in other letters' case: the sign-up waits (a retry
        // time in the future keeps the dispatcher off it) with the address in plain text.
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            db.SignUps.Add(new Web.Subscribers.SignUp { Email = "Unique.Reader.7Q@Example.org", Source = "form", ReceivedAt = DateTime.UtcNow, RetryAt = DateTime.UtcNow.AddDays(1) });
            await db.SaveChangesAsync(Ct);
        }

        // On SQLite: the address is in the database file itself (not only in the WAL), and a reader holds the
        // snapshot that still shows it while the erase runs: the erase's checkpoint can't complete until that
        // reader is done, so it has to wait for it rather than give up and leave the old page in the file.
        // (On PostgreSQL the data folder holds no database; the rest of the test applies as it is.)
        (Microsoft.Data.Sqlite.SqliteConnection Snapshot, Microsoft.Data.Sqlite.SqliteTransaction Hold)? held =
            TestDatabases.Default == Web.Data.Providers.DatabaseProvider.Sqlite ? await HoldSnapshotAsync(Path.Combine(app.DataFolder, "newsletter.db")) : null;
        var erasing = Forms.PostAsync(author, $"/admin/subscribers/{id}", new Dictionary<string, string> { ["confirm"] = "yes" }, $"/admin/subscribers/{id}?handler=Erase");
        if (held is { } h)
        {
            // Let go of the snapshot only once the erase has committed its deletes (its checkpoint comes right
            // after); whenever the checkpoint runs, it must end with the zeroed pages in the file.
            while (await SubscribeTests.FindAsync(app, "unique.reader.7q@example.org") is not null)
            {
                await Task.Delay(20, Ct);
            }

            await Task.Delay(300, Ct);
            h.Hold.Commit();
            await h.Snapshot.DisposeAsync();
        }

        var erase = await erasing;
        Assert.Equal(HttpStatusCode.Redirect, erase.StatusCode);
        await using (var scope = app.Services.CreateAsyncScope())
        {
            Assert.False(await scope.ServiceProvider.GetRequiredService<AppDbContext>().SignUps.AnyAsync(Ct), "the waiting sign-up of the erased address was kept");
        }

        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        foreach (var file in Directory.EnumerateFiles(app.DataFolder, "*", SearchOption.AllDirectories))
        {
            var bytes = await File.ReadAllBytesAsync(file, Ct);
            Assert.False(Contains(bytes, "unique.reader.7q") || Contains(bytes, "Unique.Reader.7Q"), $"{Path.GetRelativePath(app.DataFolder, file)} still holds the erased address");
            Assert.False(Contains(bytes, "Sevenq"), $"{Path.GetRelativePath(app.DataFolder, file)} still holds the erased name");
        }

        Assert.NotNull(await SubscribeTests.FindAsync(app, "stays@example.org"));
        await using var check = app.Services.CreateAsyncScope();
        Assert.True(await check.ServiceProvider.GetRequiredService<AppDbContext>().Suppressions.AnyAsync(s => s.EmailHash == app.AddressHash("unique.reader.7q@example.org"), Ct));

        static bool Contains(byte[] haystack, string needle) =>
            haystack.AsSpan().IndexOf(Encoding.UTF8.GetBytes(needle)) >= 0 || haystack.AsSpan().IndexOf(Encoding.Unicode.GetBytes(needle)) >= 0;
    }

    private static async Task<(Microsoft.Data.Sqlite.SqliteConnection, Microsoft.Data.Sqlite.SqliteTransaction)> HoldSnapshotAsync(string database)
    {
        var snapshot = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={database};Pooling=False");
        await snapshot.OpenAsync(Ct);
        await using (var checkpoint = snapshot.CreateCommand())
        {
            checkpoint.CommandText = "PRAGMA wal_checkpoint(TRUNCATE)";
            await checkpoint.ExecuteNonQueryAsync(Ct);
        }

        var hold = snapshot.BeginTransaction(deferred: true);
        await using (var read = snapshot.CreateCommand())
        {
            read.Transaction = hold;
            read.CommandText = "SELECT count(*) FROM \"Subscribers\"";
            await read.ExecuteScalarAsync(Ct);
        }

        return (snapshot, hold);
    }

    private static async Task<Subscriber?> FindWithTagsAsync(NewsletterApp app, long id)
    {
        await using var scope = app.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AppDbContext>().Subscribers.AsNoTracking().Include(s => s.Tags).FirstOrDefaultAsync(s => s.Id == id, Ct);
    }
}
