using System.Net;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;
using Newsletter.Web.Data;
using Newsletter.Web.Subscribers;

namespace Newsletter.Tests.Subscribers;

public class LeavingTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<(NewsletterApp App, MimeKit.MimeMessage Welcome)> ActiveReaderAsync(string email)
    {
        var app = new NewsletterApp();
        var client = app.CreateBrowserClient();
        await SubscribeTests.SubscribeAsync(client, email);
        await SubscribeTests.ConfirmAsync(app, client, email);
        var welcome = await app.WaitForMailAsync(email, m => m.Subject?.Contains("Welcome", StringComparison.OrdinalIgnoreCase) == true);
        // The welcome job records its history line after the mail is written: every test starts from a settled reader.
        await SubscribeTests.WaitForIdleJobsAsync(app);
        return (app, welcome);
    }

    [Fact]
    public async Task EveryReaderEmailCarriesOneClickUnsubscribeHeaders()
    {
        var (app, welcome) = await ActiveReaderAsync("headers@example.org");
        using var _ = app;
        var header = welcome.Headers["List-Unsubscribe"];
        Assert.Matches("<https?://[^>]+/unsubscribe/[^>]+>", header);
        Assert.Contains("<mailto:", header, StringComparison.Ordinal);
        Assert.Equal("List-Unsubscribe=One-Click", welcome.Headers["List-Unsubscribe-Post"]);
        Assert.Contains("/unsubscribe/", welcome.TextBody, StringComparison.Ordinal);
        Assert.Contains("/preferences/", welcome.HtmlBody, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AMailboxProvidersOneClickPostUnsubscribesWithoutCookiesOrTokens()
    {
        var (app, welcome) = await ActiveReaderAsync("oneclick@example.org");
        using var _ = app;
        var url = System.Text.RegularExpressions.Regex.Match(welcome.Headers["List-Unsubscribe"] ?? "", "<(https?://[^>]+)>").Groups[1].Value;
        // Exactly what Gmail's servers send (RFC 8058): a POST with this body, no cookies, no antiforgery token.
        var provider = app.CreateClient(new Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactoryClientOptions { HandleCookies = false, AllowAutoRedirect = false });
        var response = await provider.PostAsync(Outbox.PathOf(url), new FormUrlEncodedContent(new Dictionary<string, string> { ["List-Unsubscribe"] = "One-Click" }), Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var s = await SubscribeTests.FindAsync(app, "oneclick@example.org");
        Assert.Equal(SubscriberStatus.Unsubscribed, s!.Status);
        Assert.NotNull(s.UnsubscribedAt);
    }

    [Fact]
    public async Task AScannerFollowingTheUnsubscribeLinkChangesNothing()
    {
        var (app, welcome) = await ActiveReaderAsync("scanned@example.org");
        using var _ = app;
        var path = Outbox.PathOf(Outbox.Link(welcome, "/unsubscribe/"));
        var page = await app.CreateClient().GetAsync(path, Ct);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("Unsubscribe?", await page.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Equal(SubscriberStatus.Active, (await SubscribeTests.FindAsync(app, "scanned@example.org"))!.Status);
    }

    [Theory]
    [InlineData("forged")]
    [InlineData("CfDJ8Forged-token_value")]
    public async Task AForgedUnsubscribeTokenIsRefused(string token)
    {
        using var app = new NewsletterApp();
        var response = await app.CreateClient().PostAsync("/unsubscribe/" + token, new FormUrlEncodedContent(new Dictionary<string, string> { ["List-Unsubscribe"] = "One-Click" }), Ct);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    [Fact]
    public async Task ABouncedReadersUnsubscribeLinkSaysWhyNotThatTheyCanSubscribeAgain()
    {
        var (app, welcome) = await ActiveReaderAsync("gone.away@example.org");
        using var _ = app;
        var path = Outbox.PathOf(Outbox.Link(welcome, "/unsubscribe/"));
        Assert.Contains("Unsubscribe?", await app.CreateClient().GetStringAsync(path, Ct), StringComparison.Ordinal);
        await using (var scope = app.Services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<AppDbContext>().Subscribers.Where(s => s.EmailKey == "gone.away@example.org")
                .ExecuteUpdateAsync(u => u.SetProperty(s => s.Status, SubscriberStatus.Bounced).SetProperty(s => s.UnsubscribedAt, DateTime.UtcNow), Ct);
        }

        // A bounced address is suppressed: the form would answer as for anyone and send nothing, so the page says so.
        var page = WebUtility.HtmlDecode(await app.CreateClient().GetStringAsync(path, Ct));
        Assert.Contains("This address gets no more emails", page, StringComparison.Ordinal);
        Assert.Contains("Mail to it bounced, so nothing more is sent to it, and it can't subscribe again from the form.", page, StringComparison.Ordinal);
        Assert.DoesNotContain("subscribe again</a> at any time", page, StringComparison.Ordinal);
    }

    /// <summary>A published note tagged sqlite and latency, so the preferences page offers those two topics.</summary>
    private static async Task OfferTopicsAsync(NewsletterApp app)
    {
        app.WriteNote("t.md", "---\ntitle: T\nslug: t\ntags: [sqlite, latency]\n---\nx");
        await using var scope = app.Services.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<Newsletter.Web.Notes.NoteImporter>().ImportAsync(Ct);
    }

    [Fact]
    public async Task ThePreferencesPageSavesNameTopicsAndAPause()
    {
        var (app, welcome) = await ActiveReaderAsync("prefs@example.org");
        using var _ = app;
        await OfferTopicsAsync(app);
        var client = app.CreateBrowserClient();
        var path = Outbox.PathOf(Outbox.Link(welcome, "/preferences/"));
        var page = await client.GetStringAsync(path, Ct);
        Assert.Contains("#sqlite", page, StringComparison.Ordinal);
        var token = Forms.Token(page)!;
        var save = await client.PostAsync(path + "?handler=Save", new FormUrlEncodedContent(new List<KeyValuePair<string, string>>
        {
            new("__RequestVerificationToken", token),
            new("name", "Pat\r\nBcc:\u2028x@example.org"),
            new("topics", "sqlite"),
            new("pause", "30"),
        }), Ct);
        // Saved, then back to the page by GET, so a reload does not post the form again; the page says it saved.
        Assert.Equal(HttpStatusCode.Redirect, save.StatusCode);
        var back = save.Headers.Location!.OriginalString;
        Assert.StartsWith(path + "?saved=", back, StringComparison.Ordinal);
        Assert.Contains("class=\"alert alert-info\" role=\"status\">Saved.</p>", await client.GetStringAsync(back, Ct), StringComparison.Ordinal);
        await using var check = app.Services.CreateAsyncScope();
        var s = await check.ServiceProvider.GetRequiredService<AppDbContext>().Subscribers.Include(x => x.Tags).SingleAsync(x => x.EmailKey == "prefs@example.org", Ct);
        Assert.Equal("Pat Bcc: x@example.org", s.Name); // line breaks and separators are spaces: no header injection through a name
        Assert.Equal(["sqlite"], s.Tags.Select(t => t.Tag));
        Assert.True(s.PausedUntil > DateTime.UtcNow.AddDays(29));

        // A double click: the same Save twice at once, adding a topic and then taking both away. Each answer is
        // the redirect that follows a save (tracked tag rows made the second a 500: a duplicate key when adding, a missing row when removing).
        // Both requests are held at the database's write lock, taken here, so they overlap however fast the machine.
        foreach (var topics in new[] { new[] { "sqlite", "latency" }, Array.Empty<string>() })
        {
            var form = await client.GetStringAsync(path, Ct);
            FormUrlEncodedContent Save() => new([new("__RequestVerificationToken", Forms.Token(form)!), new("name", "Pat"), .. topics.Select(t => new KeyValuePair<string, string>("topics", t))]);
            Task<HttpResponseMessage>[] saves;
            await using (await WriteLock.TakeAsync(app, "SubscriberTags"))
            {
                saves = [client.PostAsync(path + "?handler=Save", Save(), Ct), client.PostAsync(path + "?handler=Save", Save(), Ct)];
                await Task.Delay(TimeSpan.FromSeconds(2), Ct);
            }

            var twice = await Task.WhenAll(saves);
            Assert.All(twice, r => Assert.Equal(HttpStatusCode.Redirect, r.StatusCode));
            await using var after = app.Services.CreateAsyncScope();
            var tags = await after.ServiceProvider.GetRequiredService<AppDbContext>().SubscriberTags.Where(t => t.SubscriberId == s.Id).Select(t => t.Tag).OrderBy(t => t).ToListAsync(Ct);
            Assert.Equal(topics.Order(StringComparer.Ordinal), tags);
        }
    }

    [Fact]
    public async Task SavingPreferencesWithNothingChangedRecordsNoHistory()
    {
        var (app, welcome) = await ActiveReaderAsync("unchanged@example.org");
        using var _ = app;
        await OfferTopicsAsync(app);
        var client = app.CreateBrowserClient();
        var path = Outbox.PathOf(Outbox.Link(welcome, "/preferences/"));
        var id = (await SubscribeTests.FindAsync(app, "unchanged@example.org"))!.Id;
        async Task<string> SaveAsync(string name, string topic)
        {
            var token = Forms.Token(await client.GetStringAsync(path, Ct))!;
            var save = await client.PostAsync(path + "?handler=Save", new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["__RequestVerificationToken"] = token,
                ["name"] = name,
                ["topics"] = topic,
                ["pause"] = "",
                ["welcome"] = "on",
            }), Ct);
            Assert.Equal(HttpStatusCode.Redirect, save.StatusCode);
            return save.Headers.Location!.OriginalString;
        }

        async Task<int> ChangesAsync()
        {
            await using var scope = app.Services.CreateAsyncScope();
            return await scope.ServiceProvider.GetRequiredService<AppDbContext>().SubscriberEvents
                .CountAsync(e => e.SubscriberId == id && e.Kind == SubscriberEventKind.PreferencesChanged, Ct);
        }

        await SaveAsync("Pat", "sqlite");
        Assert.Equal(1, await ChangesAsync());

        // The same form sent back as it came, twice: the page still says it saved, and the history has no new line.
        Assert.StartsWith(path + "?saved=", await SaveAsync("Pat", "sqlite"), StringComparison.Ordinal);
        Assert.StartsWith(path + "?saved=", await SaveAsync(" Pat ", "sqlite"), StringComparison.Ordinal);
        Assert.Equal(1, await ChangesAsync());

        // A change of topic, or of name alone, is recorded.
        await SaveAsync("Pat", "latency");
        Assert.Equal(2, await ChangesAsync());
        await SaveAsync("Pat Lee", "latency");
        Assert.Equal(3, await ChangesAsync());
    }

    /// <summary>
    /// The unsubscribe link in an erased reader's old email is genuine: it says the address gets nothing more, with
    /// a 200 on GET and on a mail client's one-click POST, instead of calling the link broken (which a provider may
    /// retry or report), and it offers no way back that the erase's suppression would silently refuse.
    /// </summary>
    [Fact]
    public async Task AnErasedReadersUnsubscribeLinkSaysTheAddressGetsNothingMore()
    {
        var (app, welcome) = await ActiveReaderAsync("erased.reader@example.org");
        using var _ = app;
        var path = Outbox.PathOf(Outbox.Link(welcome, "/unsubscribe/"));
        var author = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(author);
        var id = (await SubscribeTests.FindAsync(app, "erased.reader@example.org"))!.Id;
        var erase = await Forms.PostAsync(author, $"/admin/subscribers/{id}", new Dictionary<string, string> { ["confirm"] = "yes" }, $"/admin/subscribers/{id}?handler=Erase");
        Assert.Equal(HttpStatusCode.Redirect, erase.StatusCode);

        var page = await app.CreateClient().GetAsync(path, Ct);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        var text = WebUtility.HtmlDecode(await page.Content.ReadAsStringAsync(Ct));
        Assert.Contains("This address gets no more emails", text, StringComparison.Ordinal);
        Assert.Contains("This address was erased from the list, so nothing more is sent to it.", text, StringComparison.Ordinal);
        Assert.Contains("write to them", text, StringComparison.Ordinal);
        // It got issues before the erase.
        Assert.DoesNotContain("No issues have been sent", text, StringComparison.Ordinal);
        Assert.DoesNotContain("subscribe again", text, StringComparison.Ordinal);
        Assert.DoesNotContain("doesn't work", text, StringComparison.Ordinal);

        var provider = app.CreateClient(new Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactoryClientOptions { HandleCookies = false, AllowAutoRedirect = false });
        var oneClick = await provider.PostAsync(path, new FormUrlEncodedContent(new Dictionary<string, string> { ["List-Unsubscribe"] = "One-Click" }), Ct);
        Assert.Equal(HttpStatusCode.OK, oneClick.StatusCode);
        Assert.Contains("This address gets no more emails", WebUtility.HtmlDecode(await oneClick.Content.ReadAsStringAsync(Ct)), StringComparison.Ordinal);
        Assert.Null(await SubscribeTests.FindAsync(app, "erased.reader@example.org"));
    }

    [Fact]
    public async Task AnErasedReadersConfirmLinkSaysTheAddressWasErasedNotToSubscribeAgain()
    {
        using var app = new NewsletterApp();
        var reader = app.CreateBrowserClient();
        await SubscribeTests.SubscribeAsync(reader, "erased.pending@example.org");
        var confirm = await app.WaitForMailAsync("erased.pending@example.org", m => m.TextBody?.Contains("/confirm/", StringComparison.Ordinal) == true);
        var path = Outbox.PathOf(Outbox.Link(confirm, "/confirm/"));
        var author = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(author);
        var id = (await SubscribeTests.FindAsync(app, "erased.pending@example.org"))!.Id;
        var erase = await Forms.PostAsync(author, $"/admin/subscribers/{id}", new Dictionary<string, string> { ["confirm"] = "yes" }, $"/admin/subscribers/{id}?handler=Erase");
        Assert.Equal(HttpStatusCode.Redirect, erase.StatusCode);

        // The link is ours and came from the reader's inbox: not "doesn't work", and not "subscribe again for a
        // fresh link", which an erased address can't do. The button, pressed from an open tab, says the same.
        foreach (var answer in new[] { await app.CreateClient().GetAsync(path, Ct), await reader.PostAsync(path, new FormUrlEncodedContent(new Dictionary<string, string>()), Ct) })
        {
            Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
            var text = WebUtility.HtmlDecode(await answer.Content.ReadAsStringAsync(Ct));
            Assert.Contains("This address was erased from the list, so nothing more is sent to it", text, StringComparison.Ordinal);
            Assert.Contains("write to them", text, StringComparison.Ordinal);
            Assert.DoesNotContain("subscribe again", text, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("doesn't work", text, StringComparison.Ordinal);
        }

        Assert.Null(await SubscribeTests.FindAsync(app, "erased.pending@example.org"));
    }

    [Fact]
    public async Task ErasingKeepsOnlyAHashThatBlocksResubscribingAndImport()
    {
        var (app, _) = await ActiveReaderAsync("forget.me@example.org");
        using var __ = app;
        var author = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(author);
        var id = (await SubscribeTests.FindAsync(app, "forget.me@example.org"))!.Id;
        var erase = await Forms.PostAsync(author, $"/admin/subscribers/{id}", new Dictionary<string, string> { ["confirm"] = "yes" }, $"/admin/subscribers/{id}?handler=Erase");
        Assert.Equal(HttpStatusCode.Redirect, erase.StatusCode);

        await using (var scope = app.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            Assert.False(await db.Subscribers.AnyAsync(s => s.EmailKey == "forget.me@example.org", Ct));
            Assert.False(await db.SubscriberEvents.AnyAsync(e => e.SubscriberId == id, Ct));
            Assert.True(await db.Suppressions.AnyAsync(s => s.EmailHash == app.AddressHash("forget.me@example.org"), Ct));
            // Nothing readable remains anywhere in the database file's tables.
            var dump = string.Join('\n', await db.Database.SqlQuery<string>($"SELECT \"EmailHash\" AS \"Value\" FROM \"Suppressions\"").ToListAsync(Ct));
            Assert.DoesNotContain("forget.me", dump, StringComparison.Ordinal);
        }

        await SubscribeTests.SubscribeAsync(app.CreateBrowserClient(), "Forget.Me@example.org");
        await Task.Delay(500, Ct);
        Assert.Null(await SubscribeTests.FindAsync(app, "forget.me@example.org"));
    }

    /// <summary>
    /// An erase leaves the issues' numbers as they were: the erased readers' final ledger lines stay, saying
    /// "(erased)", with nothing that names them (a relay's refusal quotes the address); a line not yet final goes.
    /// A reader who comes later, even given the same id by SQLite, inherits none of them.
    /// </summary>
    [Fact]
    public async Task AnEraseKeepsTheLedgersNumbersButNothingThatNamesTheReader()
    {
        using var app = new NewsletterApp();
        var ids = await Sending.SendingFixture.AddReadersAsync(app, 3);
        var issueId = await Sending.SendingFixture.AddIssueAsync(app);
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            db.Deliveries.AddRange(
                new Web.Sending.Delivery { IssueId = issueId, SubscriberId = ids[0], Status = Web.Sending.DeliveryStatus.Sent, Attempts = 1, SmtpCode = 250 },
                new Web.Sending.Delivery { IssueId = issueId, SubscriberId = ids[1], Status = Web.Sending.DeliveryStatus.Failed, Attempts = 1, SmtpCode = 550, LastError = "550 5.1.1 <reader0001@example.org>: User unknown" },
                new Web.Sending.Delivery { IssueId = issueId, SubscriberId = ids[2], Status = Web.Sending.DeliveryStatus.Deferred, Attempts = 1 });
            await db.SaveChangesAsync(Ct);
            var readers = scope.ServiceProvider.GetRequiredService<ReaderLifecycle>();
            foreach (var id in ids)
            {
                Assert.True(await readers.DeleteAsync(id, erase: true, Ct));
            }
        }

        await using var read = app.Services.CreateAsyncScope();
        var rows = await read.ServiceProvider.GetRequiredService<AppDbContext>().Deliveries.AsNoTracking().Where(d => d.IssueId == issueId).OrderBy(d => d.Id).ToListAsync(Ct);
        Assert.Equal([Web.Sending.DeliveryStatus.Sent, Web.Sending.DeliveryStatus.Failed], rows.Select(d => d.Status));
        Assert.All(rows, d => Assert.True(d.SubscriberId < 0 && d.LastError is null, $"{d.SubscriberId} {d.LastError}"));
        var csv = new MemoryStream();
        await Web.Sending.LedgerExport.WriteCsvAsync(read.ServiceProvider.GetRequiredService<AppDbContext>(), issueId, csv, Ct);
        var text = System.Text.Encoding.UTF8.GetString(csv.ToArray());
        Assert.Equal(2, text.Split('\n').Count(l => l.StartsWith("(erased),", StringComparison.Ordinal)));
        Assert.DoesNotContain("example.org", text, StringComparison.Ordinal);

        // A new reader (on SQLite possibly with a freed id) starts with no ledger lines.
        var newcomer = (await Sending.SendingFixture.AddReadersAsync(app, 1, prefix: "newcomer"))[0];
        Assert.False(await read.ServiceProvider.GetRequiredService<AppDbContext>().Deliveries.AnyAsync(d => d.SubscriberId == newcomer, Ct));
    }

    /// <summary>A reader with several addresses is told which one the page is about, before and after.</summary>
    [Fact]
    public async Task TheUnsubscribePageNamesTheAddress()
    {
        var (app, welcome) = await ActiveReaderAsync("which.one@example.org");
        using var _ = app;
        var path = Outbox.PathOf(Outbox.Link(welcome, "/unsubscribe/"));
        var client = app.CreateClient(new Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactoryClientOptions { HandleCookies = false, AllowAutoRedirect = false });

        Assert.Contains("no more issues will be sent to which.one@example.org.", WebUtility.HtmlDecode(await client.GetStringAsync(path, Ct)), StringComparison.Ordinal);
        var done = await client.PostAsync(path, new FormUrlEncodedContent(new Dictionary<string, string>()), Ct);
        Assert.Contains("No more issues will be sent to which.one@example.org.", WebUtility.HtmlDecode(await done.Content.ReadAsStringAsync(Ct)), StringComparison.Ordinal);
        var again = WebUtility.HtmlDecode(await client.GetStringAsync(path, Ct));
        Assert.Contains("No issues have been sent to which.one@example.org since ", again, StringComparison.Ordinal);
    }

    /// <summary>
    /// The preferences link in an old email, once the reader has left, says so: no pause or unsubscribe as if the
    /// reader were still on the list. An unsubscribed reader is pointed to the form; a bounced address, which the
    /// form would silently refuse, is not. A Save from a form left open changes nothing.
    /// </summary>
    [Fact]
    public async Task AReaderWhoLeftSeesThatOnThePreferencesPageAndNoControls()
    {
        var (app, welcome) = await ActiveReaderAsync("left.prefs@example.org");
        using var _ = app;
        var path = Outbox.PathOf(Outbox.Link(welcome, "/preferences/"));
        var client = app.CreateBrowserClient();
        var open = await client.GetStringAsync(path, Ct);
        Assert.Contains("name=\"pause\"", open, StringComparison.Ordinal);
        var token = Forms.Token(open)!;

        await SetAsync(app, "left.prefs@example.org", SubscriberStatus.Unsubscribed, null);
        var page = WebUtility.HtmlDecode(await client.GetStringAsync(path, Ct));
        Assert.Contains("You're unsubscribed from ", page, StringComparison.Ordinal);
        Assert.Contains(" since ", page, StringComparison.Ordinal);
        Assert.Contains("subscribe again</a>", page, StringComparison.Ordinal);
        Assert.DoesNotContain("name=\"pause\"", page, StringComparison.Ordinal);
        Assert.DoesNotContain("/unsubscribe/", page, StringComparison.Ordinal);
        Assert.DoesNotContain("Save preferences", page, StringComparison.Ordinal);

        var save = await client.PostAsync(path + "?handler=Save", new FormUrlEncodedContent(new Dictionary<string, string> { ["__RequestVerificationToken"] = token, ["pause"] = "30" }), Ct);
        Assert.Equal(HttpStatusCode.Conflict, save.StatusCode);
        Assert.Null((await SubscribeTests.FindAsync(app, "left.prefs@example.org"))!.PausedUntil);

        await SetAsync(app, "left.prefs@example.org", SubscriberStatus.Bounced, null);
        var bounced = WebUtility.HtmlDecode(await client.GetStringAsync(path, Ct));
        Assert.Contains("left.prefs@example.org</strong> gets no more emails from ", bounced, StringComparison.Ordinal);
        Assert.DoesNotContain("subscribe again</a>", bounced, StringComparison.Ordinal);
        Assert.DoesNotContain("name=\"pause\"", bounced, StringComparison.Ordinal);
    }

    /// <summary>While paused, the select's "no change" choice keeps the pause, so it can't read "Keep sending".</summary>
    [Fact]
    public async Task WhilePausedTheUnchangedChoiceSaysStayPaused()
    {
        var (app, welcome) = await ActiveReaderAsync("paused.prefs@example.org");
        using var _ = app;
        var path = Outbox.PathOf(Outbox.Link(welcome, "/preferences/"));
        var client = app.CreateBrowserClient();
        Assert.Contains("<option value=\"\">Keep sending</option>", await client.GetStringAsync(path, Ct), StringComparison.Ordinal);

        await SetAsync(app, "paused.prefs@example.org", SubscriberStatus.Active, new DateTime(2099, 6, 15, 12, 0, 0, DateTimeKind.Utc));
        var page = await client.GetStringAsync(path, Ct);
        Assert.Contains("<option value=\"\">Stay paused until 15 June 2099</option>", page, StringComparison.Ordinal);
        Assert.DoesNotContain("Keep sending", page, StringComparison.Ordinal);
        Assert.Contains("<option value=\"resume\">Resume now</option>", page, StringComparison.Ordinal);
    }

    private static async Task SetAsync(NewsletterApp app, string email, SubscriberStatus status, DateTime? pausedUntil)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var left = status == SubscriberStatus.Active ? (DateTime?)null : DateTime.UtcNow;
        await scope.ServiceProvider.GetRequiredService<AppDbContext>().Subscribers.Where(s => s.EmailKey == email)
            .ExecuteUpdateAsync(u => u.SetProperty(s => s.Status, status).SetProperty(s => s.UnsubscribedAt, left).SetProperty(s => s.PausedUntil, pausedUntil), Ct);
    }
}
