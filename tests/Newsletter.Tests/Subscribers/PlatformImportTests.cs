using System.Globalization;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;
using Newsletter.Tests.Sending;
using Newsletter.Web.Data;
using Newsletter.Web.Infrastructure;
using Newsletter.Web.Sending;
using Newsletter.Web.Subscribers;
using Newsletter.Web.Subscribers.Import;

namespace Newsletter.Tests.Subscribers;

/// <summary>
/// Exports from other platforms (the sample files in Exports/, written for this project with invented people),
/// through the real importer on a real database: each reader keeps their status, their original times and consent
/// record, and their tags; those who left never arrive as pending or active, and are never mailed.
/// </summary>
public class PlatformImportTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Sample(string name) => Path.Combine(RepoPaths.Root, "tests", "Newsletter.Tests", "Subscribers", "Exports", name);

    private static Task<SubscriberImport> ImportSampleAsync(NewsletterApp app, string name, bool active = true, string? consent = "double opt-in there") =>
        ImportAsync(app, File.ReadAllBytes(Sample(name)), name, active, consent);

    private static async Task<SubscriberImport> ImportAsync(NewsletterApp app, byte[] bytes, string name, bool active = true, string? consent = "double opt-in there")
    {
        await using var scope = app.Services.CreateAsyncScope();
        var sp = scope.ServiceProvider;
        var import = await SubscriberImporter.StoreAsync(sp.GetRequiredService<AppDbContext>(), sp.GetRequiredService<Newsletter.Web.Data.Providers.ImportFiles>(), new MemoryStream(bytes), name, active, active ? consent : null, null, Ct);
        try
        {
            await sp.GetRequiredService<SubscriberImporter>().ImportAsync(import, Ct);
        }
        catch (CsvFormatException)
        {
            // Recorded on the import; the test reads it there.
        }

        return import;
    }

    private static async Task<Dictionary<string, Subscriber>> ReadersAsync(NewsletterApp app)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var list = await scope.ServiceProvider.GetRequiredService<AppDbContext>().Subscribers.AsNoTracking().Include(s => s.Tags).ToListAsync(Ct);
        return list.ToDictionary(s => s.EmailKey);
    }

    private static async Task<bool> SuppressedAsync(NewsletterApp app, string email)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var hash = app.AddressHash(email);
        return await scope.ServiceProvider.GetRequiredService<AppDbContext>().Suppressions.AnyAsync(s => s.EmailHash == hash, Ct);
    }

    private static async Task<string[]> ErrorsAsync(NewsletterApp app, SubscriberImport import) =>
        await ImportTests.ErrorLinesAsync(app, import.Id);

    private static string[] TagsOf(Subscriber s) => [.. s.Tags.Select(t => t.Tag).Order(StringComparer.Ordinal)];

    private static DateTime Utc(string text) => DateTime.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal);

    /// <summary>
    /// The README's way from one installation to another (or SQLite to PostgreSQL): this app's own export, imported.
    /// Each reader keeps their status, times, tags and the consent recorded there; read as any CSV, everyone took the
    /// import's one consent, readers who had left or bounced came back active, and the pending ones were refused.
    /// </summary>
    [Fact]
    public async Task ThisAppsOwnExportImportsWithEachReadersStatusTimesAndConsent()
    {
        using var from = new NewsletterApp();
        var t = new DateTime(2026, 3, 1, 9, 30, 0, DateTimeKind.Utc);
        await using (var scope = from.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            Subscriber Reader(string email, SubscriberStatus status, string? consent, DateTime? left = null) => new()
            {
                Email = email, EmailKey = email, Name = "Name of " + email[..email.IndexOf('@')], Status = status, Source = "form", ConsentSource = consent,
                CreatedAt = t, ConfirmedAt = status == SubscriberStatus.Pending ? null : t.AddMinutes(5), UnsubscribedAt = left,
            };
            db.Subscribers.AddRange(
                Reader("ann@example.org", SubscriberStatus.Active, "double opt-in on the site"),
                Reader("bob@example.org", SubscriberStatus.Unsubscribed, "double opt-in on the site", t.AddDays(3)),
                Reader("cat@example.org", SubscriberStatus.Bounced, "signed up at the meetup", t.AddDays(4)),
                Reader("dan@example.org", SubscriberStatus.Complained, null, t.AddDays(5)),
                Reader("eve@example.org", SubscriberStatus.Pending, null));
            await db.SaveChangesAsync(Ct);
            var ann = await db.Subscribers.SingleAsync(x => x.EmailKey == "ann@example.org", Ct);
            db.SubscriberTags.Add(new SubscriberTag { SubscriberId = ann.Id, Tag = "rust" });
            await db.SaveChangesAsync(Ct);
        }

        var owner = from.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(owner);
        var csv = await owner.GetByteArrayAsync("/admin/subscribers/export.csv", Ct);

        using var to = new NewsletterApp();
        var import = await ImportAsync(to, csv, "subscribers-20261206-2100.csv", active: true, consent: "moved from the old server");
        Assert.Equal("this app's export", import.Platform);
        Assert.Equal((ImportStatus.Completed, 4, 1), (import.Status, import.Imported, import.Invalid));
        var readers = await ReadersAsync(to);
        Assert.Equal(SubscriberStatus.Active, readers["ann@example.org"].Status);
        Assert.Equal(["rust"], TagsOf(readers["ann@example.org"]));
        Assert.Equal("Name of ann", readers["ann@example.org"].Name);
        Assert.Contains("double opt-in on the site", readers["ann@example.org"].ConsentSource, StringComparison.Ordinal);
        Assert.Equal(t, readers["ann@example.org"].CreatedAt);
        Assert.Equal((SubscriberStatus.Unsubscribed, (DateTime?)t.AddDays(3)), (readers["bob@example.org"].Status, readers["bob@example.org"].UnsubscribedAt));
        Assert.Equal(SubscriberStatus.Bounced, readers["cat@example.org"].Status);
        Assert.Equal(SubscriberStatus.Complained, readers["dan@example.org"].Status);
        Assert.True(await SuppressedAsync(to, "cat@example.org"));
        Assert.False(readers.ContainsKey("eve@example.org"));
        Assert.Contains(await ErrorsAsync(to, import), l => l.Contains("eve@example.org", StringComparison.Ordinal));
    }

    [Fact]
    public async Task MailchimpSubscribedUnsubscribedAndCleanedFilesKeepEachReadersStatusTimesConsentAndTags()
    {
        using var app = new NewsletterApp();
        var subscribed = await ImportSampleAsync(app, "subscribed_members_export_4f2a9c.csv");
        Assert.Equal(ImportStatus.Completed, subscribed.Status);
        Assert.Equal("Mailchimp", subscribed.Platform);
        Assert.Contains("email ← Email Address", subscribed.Mapping, StringComparison.Ordinal);
        Assert.Contains("confirmed ← CONFIRM_TIME", subscribed.Mapping, StringComparison.Ordinal);
        Assert.Equal((3, 2), (subscribed.Imported, subscribed.Invalid));

        var readers = await ReadersAsync(app);
        var ada = readers["ada.quill@example.org"];
        Assert.Equal(SubscriberStatus.Active, ada.Status);
        Assert.Equal("Ada Quill", ada.Name);
        Assert.Equal(Utc("2023-04-02 14:03:11"), ada.CreatedAt);
        Assert.Equal(Utc("2023-04-02 14:05:40"), ada.ConfirmedAt);
        Assert.Equal("Imported from Mailchimp: opted in 2023-04-02 14:03 UTC from 192.0.2.10, confirmed 2023-04-02 14:05 UTC from 192.0.2.10; double opt-in there", ada.ConsentSource);
        Assert.Equal(["early-readers", "systems"], TagsOf(ada));
        // No OPTIN_TIME: subscribed when confirmed.
        Assert.Equal(Utc("2022-11-19 08:02:00"), readers["bram.osei@example.com"].CreatedAt);
        Assert.Equal("Imported from Mailchimp: confirmed 2022-11-19 08:02 UTC from 198.51.100.7; double opt-in there", readers["bram.osei@example.com"].ConsentSource);
        // A CRLF in a name is gone, and an IP column holding a formula or a word never reaches the consent record.
        var cara = readers["cara.nyx@example.org"];
        Assert.Equal("Cara Bcc: everyone@example.org Nyx", cara.Name);
        Assert.Equal("Imported from Mailchimp: opted in 2023-06-07 08:09 UTC, confirmed 2023-06-07 08:10 UTC; double opt-in there", cara.ConsentSource);
        var errors = await ErrorsAsync(app, subscribed);
        Assert.StartsWith("4,", errors[1], StringComparison.Ordinal); // the formula where an address should be
        Assert.Equal("7,late.date@example.org,the OPTIN_TIME date 'last tuesday' could not be read", errors[2]);

        var unsubscribed = await ImportSampleAsync(app, "unsubscribed_members_export_4f2a9c.csv");
        Assert.Equal("Mailchimp", unsubscribed.Platform);
        Assert.Contains("unsubscribed file", unsubscribed.Mapping, StringComparison.Ordinal);
        // Dmitri is new and arrives unsubscribed; Ada, imported active from the other file, left since: she is moved.
        Assert.Equal((1, 2, 0), (unsubscribed.Imported, unsubscribed.NotMailed, unsubscribed.Duplicates));
        var cleaned = await ImportSampleAsync(app, "cleaned_members_export_4f2a9c.csv");
        Assert.Equal((1, 1), (cleaned.Imported, cleaned.NotMailed));

        readers = await ReadersAsync(app);
        var dmitri = readers["dmitri.vale@example.org"];
        Assert.Equal(SubscriberStatus.Unsubscribed, dmitri.Status);
        Assert.Equal(Utc("2024-02-01 10:00:00"), dmitri.UnsubscribedAt);
        Assert.Equal(Utc("2021-08-09 10:12:00"), dmitri.ConfirmedAt);
        Assert.Equal(["systems"], TagsOf(dmitri));
        Assert.StartsWith("Imported from Mailchimp: opted in 2021-08-09 10:11 UTC from 192.0.2.20", dmitri.ConsentSource, StringComparison.Ordinal);
        // An unsubscribe is the reader's: it can be undone by subscribing again here, so it is no suppression.
        Assert.False(await SuppressedAsync(app, "dmitri.vale@example.org"));
        Assert.Equal(SubscriberStatus.Unsubscribed, readers["ada.quill@example.org"].Status);
        Assert.Equal(Utc("2024-06-01 08:00:00"), readers["ada.quill@example.org"].UnsubscribedAt);
        var elif = readers["elif.dune@example.com"];
        Assert.Equal(SubscriberStatus.Bounced, elif.Status);
        Assert.True(await SuppressedAsync(app, "elif.dune@example.com"));

        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var history = await db.SubscriberEvents.AsNoTracking().Where(e => e.SubscriberId == ada.Id).OrderBy(e => e.Id).ToListAsync(Ct);
        Assert.Equal([SubscriberEventKind.Imported, SubscriberEventKind.Unsubscribed], history.Select(e => e.Kind));
        Assert.Equal("unsubscribed on Mailchimp, 2024-06-01 08:00 UTC", history[1].Detail);
        var elifHistory = await db.SubscriberEvents.AsNoTracking().SingleAsync(e => e.SubscriberId == elif.Id, Ct);
        Assert.Equal("bounced (cleaned) on Mailchimp, 2024-03-05 06:07 UTC", elifHistory.Detail);
    }

    /// <summary>
    /// Mailchimp writes TAGS as quoted names, and a name may hold a comma: it stays one tag. A leaver the file gives
    /// no opt-in or confirmation time joined no later than they left, not on the day of the import.
    /// </summary>
    [Fact]
    public async Task MailchimpTagsWithCommasStayWholeAndALeaverWithoutAJoinDateJoinedBeforeLeaving()
    {
        using var app = new NewsletterApp();
        var csv = """"
            "Email Address","First Name","Last Name","OPTIN_TIME","CONFIRM_TIME","UNSUB_TIME","TAGS"
            gus@example.org,Gus,,,,"2024-02-01 10:00:00","""Paid, yearly"",""Systems"""

            """";
        var import = await ImportAsync(app, Encoding.UTF8.GetBytes(csv), "unsubscribed_members_export_1.csv");
        Assert.True(import.Status == ImportStatus.Completed, import.Error);
        var gus = (await ReadersAsync(app))["gus@example.org"];
        Assert.Equal(["paid-yearly", "systems"], TagsOf(gus));
        Assert.Equal(SubscriberStatus.Unsubscribed, gus.Status);
        Assert.Equal(Utc("2024-02-01 10:00:00"), gus.UnsubscribedAt);
        Assert.Equal(Utc("2024-02-01 10:00:00"), gus.CreatedAt);
    }

    [Fact]
    public async Task ReadersWhoLeftAreNeverMailedAndStaySoWhenAnotherFileSaysTheyAreActive()
    {
        using var app = new NewsletterApp();
        await ImportSampleAsync(app, "subscribed_members_export_4f2a9c.csv");
        await ImportSampleAsync(app, "unsubscribed_members_export_4f2a9c.csv");
        await ImportSampleAsync(app, "cleaned_members_export_4f2a9c.csv");
        // Later: the same people in an author's own CSV and in a Substack export, as active.
        var own = await ImportAsync(app, Encoding.UTF8.GetBytes("email,name\ndmitri.vale@example.org,Dmitri\nELIF.dune@example.com,Elif\nnew.reader@example.org,New\n"), "list.csv");
        Assert.Equal((1, 1, 1), (own.Imported, own.Duplicates, own.Suppressed));
        var substack = await ImportAsync(app, Encoding.UTF8.GetBytes("email,active_subscription,expiry,plan,email_disabled,created_at\ndmitri.vale@example.org,false,,,false,2024-09-01T00:00:00Z\nelif.dune@example.com,false,,,false,2024-09-01T00:00:00Z\n"), "email_list.csv");
        Assert.Equal("Substack", substack.Platform);
        Assert.Equal(0, substack.Imported);

        var readers = await ReadersAsync(app);
        Assert.Equal(SubscriberStatus.Unsubscribed, readers["dmitri.vale@example.org"].Status);
        Assert.Equal(SubscriberStatus.Bounced, readers["elif.dune@example.com"].Status);

        // The send's own snapshot takes only those still receiving: Bram, Cara and the new reader.
        var issueId = await SendingFixture.AddIssueAsync(app);
        await using var scope = app.Services.CreateAsyncScope();
        var sp = scope.ServiceProvider;
        var db = sp.GetRequiredService<AppDbContext>();
        await sp.GetRequiredService<Ledger>().SnapshotAsync(await db.Issues.SingleAsync(i => i.Id == issueId, Ct), Ct);
        var mailed = await db.Deliveries.Where(d => d.IssueId == issueId).Join(db.Subscribers, d => d.SubscriberId, s => s.Id, (d, s) => s.EmailKey).OrderBy(k => k).ToListAsync(Ct);
        Assert.Equal(["bram.osei@example.com", "cara.nyx@example.org", "new.reader@example.org"], mailed);
    }

    [Fact]
    public async Task AReaderWhoCameBackByThemselvesAfterLeavingIsNotMovedByAnOldExport()
    {
        using var app = new NewsletterApp();
        await using (var scope = app.Services.CreateAsyncScope())
        {
            // Confirmed here, by their own click, after the export says they left there.
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            db.Subscribers.Add(new Subscriber { Email = "dmitri.vale@example.org", EmailKey = "dmitri.vale@example.org", Status = SubscriberStatus.Active, Source = "home", ConfirmedAt = Utc("2024-05-05 00:00:00") });
            await db.SaveChangesAsync(Ct);
        }

        var import = await ImportSampleAsync(app, "unsubscribed_members_export_4f2a9c.csv");
        Assert.Equal((1, 1), (import.Imported, import.Duplicates)); // Ada is new; Dmitri stays
        var readers = await ReadersAsync(app);
        Assert.Equal(SubscriberStatus.Active, readers["dmitri.vale@example.org"].Status);
        Assert.Equal(SubscriberStatus.Unsubscribed, readers["ada.quill@example.org"].Status);
    }

    [Fact]
    public async Task SubstackKeepsDisabledEmailsAsUnsubscribedAndTagsPaidReaders()
    {
        using var app = new NewsletterApp();
        var import = await ImportSampleAsync(app, "substack_email_list.csv");
        Assert.Equal("Substack", import.Platform);
        Assert.Equal((3, 1, 1), (import.Imported, import.NotMailed, import.Invalid));
        var readers = await ReadersAsync(app);
        var fern = readers["fern.holloway@example.org"];
        Assert.Equal((SubscriberStatus.Active, Utc("2021-03-04T05:06:07Z"), Utc("2021-03-04T05:06:07Z")), (fern.Status, fern.CreatedAt, fern.ConfirmedAt!.Value));
        Assert.Equal("Imported from Substack: subscribed 2021-03-04 05:06 UTC; double opt-in there", fern.ConsentSource);
        Assert.Empty(fern.Tags);
        Assert.Equal(["paid", "yearly"], TagsOf(readers["gus.amari@example.com"]));
        Assert.Equal(SubscriberStatus.Unsubscribed, readers["hana.ito@example.org"].Status);
        Assert.Contains("unknown Substack email_disabled 'maybe'", (await ErrorsAsync(app, import))[1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task GhostKeepsUnsubscribedMembersAndLabelsAsTags()
    {
        using var app = new NewsletterApp();
        var import = await ImportSampleAsync(app, "ghost_members.csv");
        Assert.Equal("Ghost", import.Platform);
        Assert.Contains("tags ← labels", import.Mapping, StringComparison.Ordinal);
        Assert.Equal((2, 1, 1), (import.Imported, import.NotMailed, import.Invalid));
        var readers = await ReadersAsync(app);
        var jun = readers["jun.park@example.org"];
        Assert.Equal((SubscriberStatus.Active, "Jun Park", Utc("2022-07-08T09:10:11Z")), (jun.Status, jun.Name, jun.CreatedAt));
        Assert.Equal("Imported from Ghost: member since 2022-07-08 09:10 UTC; double opt-in there", jun.ConsentSource);
        Assert.Equal(["founding", "workshop-2023"], TagsOf(jun));
        Assert.Equal(SubscriberStatus.Unsubscribed, readers["kai.moss@example.com"].Status);
        Assert.Equal(["workshop-2023"], TagsOf(readers["kai.moss@example.com"]));
        Assert.Contains("lio.grant@example.org,\"unknown Ghost subscribed_to_emails 'perhaps'", (await ErrorsAsync(app, import))[1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnOlderGhostExportWithASubscribedColumnIsRecognisedToo()
    {
        using var app = new NewsletterApp();
        var csv = "email,name,note,subscribed,complimentary_plan,stripe_customer_id,created_at,deleted_at,labels\n"
            + "old.one@example.org,Old One,,true,false,,2019-05-06T07:08:09.000Z,,Early\n"
            + "old.two@example.org,Old Two,,false,false,,2019-05-06T07:08:09.000Z,,\n";
        var import = await ImportAsync(app, Encoding.UTF8.GetBytes(csv), "members.csv");
        Assert.Equal(("Ghost", 2, 1), (import.Platform, import.Imported, import.NotMailed));
        var readers = await ReadersAsync(app);
        Assert.Equal(SubscriberStatus.Active, readers["old.one@example.org"].Status);
        Assert.Equal(Utc("2019-05-06T07:08:09Z"), readers["old.one@example.org"].CreatedAt);
        Assert.Equal(SubscriberStatus.Unsubscribed, readers["old.two@example.org"].Status);
    }

    [Fact]
    public async Task ButtondownTypesBecomeStatusesAndUnactivatedOrUnknownOnesAreReportedNotImported()
    {
        using var app = new NewsletterApp();
        var import = await ImportSampleAsync(app, "buttondown_subscribers.csv");
        Assert.Equal("Buttondown", import.Platform);
        Assert.Equal((3, 2, 2), (import.Imported, import.NotMailed, import.Invalid));
        var readers = await ReadersAsync(app);
        var lena = readers["lena.fox@example.org"];
        Assert.Equal(SubscriberStatus.Active, lena.Status);
        Assert.Equal(Utc("2023-01-15T10:20:30.123456Z"), lena.CreatedAt);
        // The referrer is kept as a plain web address: no query string, no text of the file's choosing.
        Assert.Equal("Imported from Buttondown: subscribed 2023-01-15 10:20 UTC on https://lena.example.org/why-ledgers; double opt-in there", lena.ConsentSource);
        Assert.Equal(["notes", "systems"], TagsOf(lena));
        Assert.Equal(SubscriberStatus.Unsubscribed, readers["milo.reed@example.com"].Status);
        Assert.Equal(SubscriberStatus.Complained, readers["oto.lane@example.org"].Status);
        Assert.True(await SuppressedAsync(app, "oto.lane@example.org"));
        Assert.DoesNotContain("nia.cole@example.org", readers.Keys);
        var errors = await ErrorsAsync(app, import);
        Assert.Contains("nia.cole@example.org,never confirmed their address on Buttondown", errors[1], StringComparison.Ordinal);
        Assert.Contains("pia.west@example.com,\"unknown Buttondown type 'vip-ish'", errors[2], StringComparison.Ordinal);
    }

    [Fact]
    public async Task ListmonkReadsGoTimesAndKeepsBlocklistedSubscribersOut()
    {
        using var app = new NewsletterApp();
        var import = await ImportSampleAsync(app, "listmonk_subscribers.csv");
        Assert.Equal("listmonk", import.Platform);
        Assert.Equal((2, 1, 1), (import.Imported, import.NotMailed, import.Invalid));
        var readers = await ReadersAsync(app);
        var quinn = readers["quinn.lake@example.org"];
        Assert.Equal((SubscriberStatus.Active, "Quinn Lake"), (quinn.Status, quinn.Name));
        Assert.Equal(Utc("2023-05-06T07:08:09.123456Z"), quinn.CreatedAt);
        var rafa = readers["rafa.stone@example.com"];
        Assert.Equal(SubscriberStatus.Unsubscribed, rafa.Status);
        Assert.Equal(Utc("2024-02-03T04:05:06Z"), rafa.UnsubscribedAt);
        Assert.Contains("sol.rivers@example.org,\"unknown listmonk status 'zombie'", (await ErrorsAsync(app, import))[1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task KitStatesBecomeStatusesWithBouncesAndComplaintsSuppressed()
    {
        using var app = new NewsletterApp();
        var import = await ImportSampleAsync(app, "kit_subscribers.csv");
        Assert.Equal("Kit", import.Platform);
        Assert.Equal((4, 3, 1), (import.Imported, import.NotMailed, import.Invalid));
        var readers = await ReadersAsync(app);
        var tove = readers["tove.lind@example.org"];
        Assert.Equal((SubscriberStatus.Active, "Tove", Utc("2023-01-27T11:43:55Z")), (tove.Status, tove.Name, tove.CreatedAt));
        Assert.Equal(["newsletter", "vip"], TagsOf(tove));
        Assert.Equal(SubscriberStatus.Unsubscribed, readers["uma.berg@example.com"].Status);
        Assert.Equal(SubscriberStatus.Bounced, readers["vik.moe@example.org"].Status);
        Assert.Equal(SubscriberStatus.Complained, readers["wen.hu@example.com"].Status);
        Assert.True(await SuppressedAsync(app, "vik.moe@example.org"));
        Assert.True(await SuppressedAsync(app, "wen.hu@example.com"));
        Assert.False(await SuppressedAsync(app, "uma.berg@example.com"));
        Assert.Contains("xia.north@example.org,never confirmed their address on Kit", (await ErrorsAsync(app, import))[1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task PendingModeSendsConfirmationsOnlyToThoseStillSubscribed()
    {
        using var app = new NewsletterApp();
        var import = await ImportSampleAsync(app, "kit_subscribers.csv", active: false);
        Assert.Equal(4, import.Imported);
        await app.WaitForMailAsync("tove.lind@example.org", m => m.TextBody?.Contains("/confirm/", StringComparison.Ordinal) == true);
        await SubscribeTests.WaitForIdleJobsAsync(app);
        var readers = await ReadersAsync(app);
        Assert.Equal(SubscriberStatus.Pending, readers["tove.lind@example.org"].Status);
        Assert.Null(readers["tove.lind@example.org"].ConfirmedAt);
        Assert.Equal(SubscriberStatus.Unsubscribed, readers["uma.berg@example.com"].Status);
        Assert.DoesNotContain(Directory.EnumerateFiles(app.PickupFolder, "*.eml", SearchOption.AllDirectories),
            f => File.ReadAllText(f).Contains("uma.berg@example.com", StringComparison.Ordinal));
    }

    [Fact]
    public async Task HostileRowsInAnExportAreReportedOneByOneAndTheRestImport()
    {
        using var app = new NewsletterApp();
        var csv = "first_name,email_address,state,created_at,tags\r\n"
            + "Ok,ok.one@example.org,active,2023-01-01T00:00:00Z,\r\n"
            + "=cmd,\"=HYPERLINK(\"\"http://evil.example\"\")\",active,2023-01-01T00:00:00Z,\r\n"   // a formula for an address
            + "Bad,bad.date@example.org,active,31/31/2023,\r\n"                                  // a date that is no date
            + "Odd,odd.state@example.org,\"act\r\nive\",2023-01-01T00:00:00Z,\r\n"                // CRLF inside a status
            + "Huge,huge@example.org,active,2023-01-01T00:00:00Z," + new string('t', CsvReader.MaxRecordLength + 10) + "\r\n"
            + "Ok,ok.two@example.org,cancelled,2023-01-01T00:00:00Z,\"=1+1, plain\"\r\n";        // a formula in a tag is only text
        var import = await ImportAsync(app, Encoding.UTF8.GetBytes(csv), "subscribers.csv");
        Assert.Equal(ImportStatus.Completed, import.Status);
        Assert.Equal("Kit", import.Platform);
        Assert.Equal((2, 4), (import.Imported, import.Invalid));
        var errors = await ErrorsAsync(app, import);
        Assert.StartsWith("3,\"'=HYPERLINK", errors[1], StringComparison.Ordinal);
        Assert.Equal("4,bad.date@example.org,the created_at date '31/31/2023' could not be read", errors[2]);
        Assert.Equal("5,odd.state@example.org,\"unknown Kit state 'act  ive' (known: active, cold, inactive, cancelled, bounced, complained): not imported, so nobody is mailed by mistake\"", errors[3]);
        Assert.StartsWith("7,,the record starting on line 7 is longer than", errors[4], StringComparison.Ordinal);
        var readers = await ReadersAsync(app);
        Assert.Equal(SubscriberStatus.Unsubscribed, readers["ok.two@example.org"].Status);
        Assert.Equal(["1-1", "plain"], TagsOf(readers["ok.two@example.org"]));
    }

    [Theory]
    [InlineData("2023-04-02 14:03:11", "2023-04-02T14:03:11.0000000Z")]
    [InlineData("2021-03-04T05:06:07.120Z", "2021-03-04T05:06:07.1200000Z")]
    [InlineData("2023-01-15T10:20:30.123456+02:00", "2023-01-15T08:20:30.1234560Z")]
    [InlineData("2023-05-06 07:08:09.123456 +0000 UTC", "2023-05-06T07:08:09.1234560Z")]
    [InlineData("2023-05-06 07:08:09 -0130 XYZ", "2023-05-06T08:38:09.0000000Z")]
    [InlineData("2023-05-06 07:08:09.123 +0000 +0000", "2023-05-06T07:08:09.1230000Z")]
    [InlineData("2024-01-02 03:04:05 UTC", "2024-01-02T03:04:05.0000000Z")]
    [InlineData("1700000000", "2023-11-14T22:13:20.0000000Z")]
    [InlineData("2023-02-30 10:00:00", null)]
    [InlineData("2023-04-02 24:00:00", null)]
    [InlineData("=NOW()", null)]
    public void ExportDatesAreReadInEveryShapeThePlatformsWriteAndNothingElse(string text, string? expected)
    {
        var ok = ImportValues.TryDate(text, out var value);
        Assert.Equal(expected is not null, ok);
        Assert.Equal(expected, value?.ToString("O", CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task AStatusColumnInAnyOtherCsvKeepsThoseWhoLeftUnmailedAndAnUnknownValueOut()
    {
        // Keila's export (no platform of ours recognises it): its Status column was ignored, and people who had
        // unsubscribed arrived active, or pending with a confirmation email.
        using var app = new NewsletterApp();
        var csv = "Email,First name,Last name,Data,Status\n"
            + "ke.active@example.org,Ada,Active,,active\n"
            + "ke.unsub@example.org,Una,Sub,,unsubscribed\n"
            + "ke.unreach@example.org,,,,unreachable\n"
            + "ke.spam@example.org,,,,Spam complaint\n"
            + "ke.odd@example.org,,,,needs_attention\n"
            + "ke.blank@example.org,Bea,,,\n";
        var import = await ImportAsync(app, System.Text.Encoding.UTF8.GetBytes(csv), "keila.csv", active: false);
        Assert.Null(import.Platform);
        Assert.Contains("status ← Status", import.Mapping, StringComparison.Ordinal);
        await SubscribeTests.WaitForIdleJobsAsync(app);
        var readers = await ReadersAsync(app);
        Assert.Equal(SubscriberStatus.Pending, readers["ke.active@example.org"].Status);
        Assert.Equal(SubscriberStatus.Pending, readers["ke.blank@example.org"].Status);
        Assert.Equal(SubscriberStatus.Unsubscribed, readers["ke.unsub@example.org"].Status);
        Assert.Equal(SubscriberStatus.Bounced, readers["ke.unreach@example.org"].Status);
        Assert.Equal(SubscriberStatus.Complained, readers["ke.spam@example.org"].Status);
        Assert.False(readers.ContainsKey("ke.odd@example.org"));
        Assert.Contains(await ErrorsAsync(app, import), l => l.Contains("ke.odd@example.org", StringComparison.Ordinal) && l.Contains("unknown status 'needs_attention'", StringComparison.Ordinal));
        var mailed = Directory.EnumerateFiles(app.PickupFolder, "*.eml", SearchOption.AllDirectories).Select(File.ReadAllText).ToList();
        foreach (var left in new[] { "ke.unsub@example.org", "ke.unreach@example.org", "ke.spam@example.org", "ke.odd@example.org" })
        {
            Assert.DoesNotContain(mailed, m => m.Contains(left, StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task AnEmptyStatusCellIsNoStatusAndKeepsTheRowOutRatherThanGuess()
    {
        // Read as false before: an empty email_disabled made a Substack reader active, an empty
        // subscribed_to_emails made a Ghost member unsubscribed.
        using var app = new NewsletterApp();
        var substack = await ImportAsync(app, System.Text.Encoding.UTF8.GetBytes(
            "email,active_subscription,email_disabled,created_at\nsub.ok@example.org,false,false,2024-01-02\nsub.blank@example.org,false,,2024-01-02\n"), "substack.csv");
        Assert.Equal("Substack", substack.Platform);
        var ghost = await ImportAsync(app, System.Text.Encoding.UTF8.GetBytes(
            "id,email,name,subscribed_to_emails,labels,created_at\n1,gh.ok@example.org,Ann,true,,2024-01-02\n2,gh.blank@example.org,Bo,,,2024-01-02\n"), "members.csv");
        Assert.Equal("Ghost", ghost.Platform);
        var readers = await ReadersAsync(app);
        Assert.Equal(SubscriberStatus.Active, readers["sub.ok@example.org"].Status);
        Assert.Equal(SubscriberStatus.Active, readers["gh.ok@example.org"].Status);
        Assert.False(readers.ContainsKey("sub.blank@example.org"));
        Assert.False(readers.ContainsKey("gh.blank@example.org"));
        Assert.Contains(await ErrorsAsync(app, substack), l => l.Contains("sub.blank@example.org", StringComparison.Ordinal) && l.Contains("unknown Substack email_disabled ''", StringComparison.Ordinal));
        Assert.Contains(await ErrorsAsync(app, ghost), l => l.Contains("gh.blank@example.org", StringComparison.Ordinal) && l.Contains("unknown Ghost subscribed_to_emails ''", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ThisSitesOwnExportImportsBackWithEachReadersStatus()
    {
        // Moving to a new installation: the admin's export (email,name,status,...,unsubscribed) into an empty list.
        using var app = new NewsletterApp();
        var csv = "email,name,status,tags,source,consent,subscribed,confirmed,unsubscribed\n"
            + "own.active@example.org,Ann,active,beta,web,form,2025-01-02T03:04:05Z,2025-01-02T03:05:00Z,\n"
            + "own.left@example.org,Leo,unsubscribed,,web,form,2025-01-02T03:04:05Z,2025-01-02T03:05:00Z,2025-06-01T00:00:00Z\n"
            + "own.bounced@example.org,,bounced,,import:1,,2025-01-02T03:04:05Z,,\n";
        var import = await ImportAsync(app, System.Text.Encoding.UTF8.GetBytes(csv), "subscribers.csv");
        Assert.Equal(ImportStatus.Completed, import.Status);
        var readers = await ReadersAsync(app);
        Assert.Equal(SubscriberStatus.Active, readers["own.active@example.org"].Status);
        Assert.Equal(SubscriberStatus.Unsubscribed, readers["own.left@example.org"].Status);
        Assert.Equal(Utc("2025-06-01T00:00:00Z"), readers["own.left@example.org"].UnsubscribedAt);
        Assert.Equal(SubscriberStatus.Bounced, readers["own.bounced@example.org"].Status);
        Assert.True(await SuppressedAsync(app, "own.bounced@example.org"));
    }

    [Fact]
    public async Task MailchimpsNonSubscribedFileIsRefusedWithASentence()
    {
        using var app = new NewsletterApp();
        var import = await ImportAsync(app, File.ReadAllBytes(Sample("subscribed_members_export_4f2a9c.csv")), "nonsubscribed_members_export_4f2a9c.csv");
        Assert.Equal(ImportStatus.Failed, import.Status);
        Assert.Contains("never subscribed", import.Error, StringComparison.Ordinal);
        Assert.Empty(await ReadersAsync(app));
    }

    [Fact]
    public async Task TheStatusPageAndApiSayWhichPlatformWasRecognisedAndHowColumnsWereRead()
    {
        using var app = new NewsletterApp();
        var import = await ImportSampleAsync(app, "ghost_members.csv");
        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(client);
        var page = await client.GetStringAsync($"/admin/subscribers/imports/{import.Id}", Ct);
        Assert.Contains("Recognised as a <strong>Ghost</strong> export", page, StringComparison.Ordinal);
        Assert.Contains("<li>tags ← labels</li>", page, StringComparison.Ordinal);
        // The sample has a refused row, so its rows can be downloaded; a file with none offers no empty download.
        Assert.Equal(1, import.Invalid);
        Assert.Contains($"/admin/subscribers/imports/{import.Id}/errors.csv", page, StringComparison.Ordinal);
        var clean = await ImportAsync(app, "email\nclean@example.org\n"u8.ToArray(), "clean.csv");
        Assert.Equal((1, 0), (clean.Imported, clean.Invalid));
        Assert.DoesNotContain("errors.csv", await client.GetStringAsync($"/admin/subscribers/imports/{clean.Id}", Ct), StringComparison.Ordinal);
        var json = await client.GetStringAsync($"/admin/api/imports/{import.Id}", Ct);
        Assert.Contains("\"platform\":\"Ghost\"", json, StringComparison.Ordinal);
        Assert.Contains("\"notMailed\":1", json, StringComparison.Ordinal);
    }
}
