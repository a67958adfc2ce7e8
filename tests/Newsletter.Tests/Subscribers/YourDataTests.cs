using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;
using Newsletter.Web.Data;
using Newsletter.Web.Subscribers;

namespace Newsletter.Tests.Subscribers;

/// <summary>A reader downloads or erases their own data from the preferences page, through a link mailed to them.</summary>
public class YourDataTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<(NewsletterApp App, string PreferencesPath)> ReaderAsync(string email)
    {
        var app = new NewsletterApp();
        var client = app.CreateBrowserClient();
        await SubscribeTests.SubscribeAsync(client, email);
        await SubscribeTests.ConfirmAsync(app, client, email);
        var welcome = await app.WaitForMailAsync(email, m => m.Subject?.Contains("Welcome", StringComparison.OrdinalIgnoreCase) == true);
        await SubscribeTests.WaitForIdleJobsAsync(app);
        return (app, Outbox.PathOf(Outbox.Link(welcome, "/preferences/")));
    }

    /// <summary>Asks on the preferences page and returns the path of the link the email carries.</summary>
    private static async Task<string> AskAsync(NewsletterApp app, string preferences, string kind, string email)
    {
        var client = app.CreateBrowserClient();
        var response = await Forms.PostAsync(client, preferences, new Dictionary<string, string> { ["kind"] = kind }, preferences + "?handler=DataRequest");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains($"We've emailed {email}", WebUtility.HtmlDecode(await response.Content.ReadAsStringAsync(Ct)), StringComparison.Ordinal);
        var mail = await app.WaitForMailAsync(email, m => m.TextBody?.Contains("/your-data/", StringComparison.Ordinal) == true);
        return Outbox.PathOf(Outbox.Link(mail, "/your-data/"));
    }

    /// <summary>
    /// The signed link is the credential on every page a reader reaches from an email: with cookies blocked (so no
    /// antiforgery cookie, as in an in-app mail browser) preferences, data requests, the download and leaving the
    /// welcome series all work, where each answered 400 "could not be read".
    /// </summary>
    [Fact]
    public async Task EveryPageFromAReadersEmailWorksWithCookiesBlocked()
    {
        var (app, preferences) = await ReaderAsync("nocookies@example.org");
        using var _ = app;
        var noCookies = app.CreateClient(new Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactoryClientOptions { HandleCookies = false, AllowAutoRedirect = false });
        FormUrlEncodedContent Form(params (string Key, string Value)[] fields) => new(fields.Select(f => KeyValuePair.Create(f.Key, f.Value)));

        var saved = await noCookies.PostAsync(preferences + "?handler=Save", Form(("name", "No Cookies")), Ct);
        Assert.Equal(HttpStatusCode.Redirect, saved.StatusCode);
        Assert.Equal("No Cookies", (await SubscribeTests.FindAsync(app, "nocookies@example.org"))!.Name);

        var asked = await noCookies.PostAsync(preferences + "?handler=DataRequest", Form(("kind", "download")), Ct);
        Assert.Equal(HttpStatusCode.OK, asked.StatusCode);
        var mail = await app.WaitForMailAsync("nocookies@example.org", m => m.TextBody?.Contains("/your-data/", StringComparison.Ordinal) == true);
        var link = Outbox.PathOf(Outbox.Link(mail, "/your-data/"));
        var file = await noCookies.PostAsync(link + "?handler=Download", Form(), Ct);
        Assert.Equal(HttpStatusCode.OK, file.StatusCode);
        Assert.Equal("application/json", file.Content.Headers.ContentType?.MediaType);

        var leave = "/welcome/leave/" + preferences[(preferences.LastIndexOf('/') + 1)..];
        var left = await noCookies.PostAsync(leave, Form(), Ct);
        Assert.Equal(HttpStatusCode.OK, left.StatusCode);
        Assert.Contains("Done: no more welcome emails", await left.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadRequest, (await noCookies.GetAsync("/welcome/leave/forged-token", Ct)).StatusCode);
    }

    [Fact]
    public async Task AReaderDownloadsEverythingStoredAboutThemFromAMailedLink()
    {
        var (app, preferences) = await ReaderAsync("mine@example.org");
        using var _ = app;
        var link = await AskAsync(app, preferences, "download", "mine@example.org");

        // Opening the link (as a scanner would) downloads nothing: it shows a button.
        var page = await app.CreateClient().GetAsync(link, Ct);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        Assert.Contains("Download my data", await page.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);

        var file = await Forms.PostAsync(app.CreateBrowserClient(), link, new Dictionary<string, string>(), link + "?handler=Download");
        Assert.Equal(HttpStatusCode.OK, file.StatusCode);
        Assert.Equal("application/json", file.Content.Headers.ContentType?.MediaType);
        Assert.StartsWith("my-data-", file.Content.Headers.ContentDisposition?.FileNameStar ?? file.Content.Headers.ContentDisposition?.FileName?.Trim('"'), StringComparison.Ordinal);
        using var json = JsonDocument.Parse(await file.Content.ReadAsStringAsync(Ct));
        var root = json.RootElement;
        Assert.Equal("mine@example.org", root.GetProperty("subscription").GetProperty("email").GetString());
        Assert.Equal("Active", root.GetProperty("subscription").GetProperty("status").GetString());
        var history = root.GetProperty("history").EnumerateArray().Select(e => e.GetProperty("event").GetString()).ToList();
        Assert.Contains("Subscribed", history);
        Assert.Contains("Confirmed", history);

        // The same link never erases.
        var erase = await Forms.PostAsync(app.CreateBrowserClient(), link, new Dictionary<string, string> { ["confirm"] = "yes" }, link + "?handler=Erase");
        Assert.Equal(HttpStatusCode.OK, erase.StatusCode);
        Assert.NotNull(await SubscribeTests.FindAsync(app, "mine@example.org"));
    }

    [Fact]
    public async Task AReaderErasesThemselvesOnlyAfterConfirmingOnTheMailedLinksPage()
    {
        var (app, preferences) = await ReaderAsync("gone@example.org");
        using var _ = app;
        var link = await AskAsync(app, preferences, "erase", "gone@example.org");
        Assert.NotNull(await SubscribeTests.FindAsync(app, "gone@example.org"));

        // A scanner's GET and a POST without the tick change nothing.
        Assert.Contains("Erase everything about me", await app.CreateClient().GetStringAsync(link, Ct), StringComparison.Ordinal);
        var unticked = await Forms.PostAsync(app.CreateBrowserClient(), link, new Dictionary<string, string>(), link + "?handler=Erase");
        Assert.Equal(HttpStatusCode.BadRequest, unticked.StatusCode);
        Assert.NotNull(await SubscribeTests.FindAsync(app, "gone@example.org"));

        // A double click: two posts at once erase once and both say so.
        var browsers = new[] { app.CreateBrowserClient(), app.CreateBrowserClient() };
        var tokens = await Task.WhenAll(browsers.Select(b => Forms.TokenAsync(b, link)));
        var answers = await Task.WhenAll(browsers.Select((b, i) => b.PostAsync(link + "?handler=Erase", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["__RequestVerificationToken"] = tokens[i], ["confirm"] = "yes",
        }), Ct)));
        Assert.All(answers, a => Assert.Equal(HttpStatusCode.OK, a.StatusCode));
        var texts = await Task.WhenAll(answers.Select(a => a.Content.ReadAsStringAsync(Ct)));
        Assert.Contains(texts, t => t.Contains("Everything about this address is gone", StringComparison.Ordinal));

        Assert.Null(await SubscribeTests.FindAsync(app, "gone@example.org"));
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        Assert.True(await db.Suppressions.AnyAsync(s => s.EmailHash == app.AddressHash("gone@example.org"), Ct));
        var audit = await db.AuditEntries.SingleAsync(e => e.Action == Newsletter.Web.Audit.AuditActions.ReaderErase, Ct);
        Assert.DoesNotContain("gone@example.org", audit.Detail + audit.ActorName, StringComparison.OrdinalIgnoreCase);

        // The link, used again, finds nothing to act on.
        Assert.Contains("Nothing is stored for this link", await app.CreateClient().GetStringAsync(link, Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ForgedExpiredAndBorrowedTokensOpenNothing()
    {
        var (app, preferences) = await ReaderAsync("safe@example.org");
        using var _ = app;
        var id = (await SubscribeTests.FindAsync(app, "safe@example.org"))!.Id;
        var tokens = app.Services.GetRequiredService<SubscriberTokens>();
        var client = app.CreateClient();

        // A preferences (manage) token, a confirmation-like garbage string and a tampered token: 404, no data.
        var manage = preferences.Split('/').Last();
        var valid = tokens.DataRequest(id, DataRequestKind.Download);
        foreach (var forged in new[] { manage, "x", valid[..^4] + "AAAA", new string('a', 3000) })
        {
            var response = await client.GetAsync("/your-data/" + Uri.EscapeDataString(forged), Ct);
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.DoesNotContain("safe@example.org", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        }

        // One made a day and more ago: 410 and a way to ask again.
        var stale = app.Services.GetRequiredService<IDataProtectionProvider>().CreateProtector("Newsletter.Subscribers.DataRequest.v1")
            .ToTimeLimitedDataProtector().Protect($"{(int)DataRequestKind.Erase}.{id}", DateTimeOffset.UtcNow.AddMinutes(-1));
        var expired = await client.GetAsync("/your-data/" + stale, Ct);
        Assert.Equal(HttpStatusCode.Gone, expired.StatusCode);
        Assert.Contains("/preferences", await expired.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        var post = await Forms.PostAsync(app.CreateBrowserClient(), "/your-data/" + valid, new Dictionary<string, string> { ["confirm"] = "yes" }, "/your-data/" + stale + "?handler=Erase");
        Assert.Equal(HttpStatusCode.Gone, post.StatusCode);
        Assert.NotNull(await SubscribeTests.FindAsync(app, "safe@example.org"));

        // An unknown kind on the preferences form is refused and mails nothing.
        var before = Outbox.Read(app.PickupFolder).Count;
        var odd = await Forms.PostAsync(app.CreateBrowserClient(), preferences, new Dictionary<string, string> { ["kind"] = "everything" }, preferences + "?handler=DataRequest");
        Assert.Equal(HttpStatusCode.BadRequest, odd.StatusCode);
        await SubscribeTests.WaitForIdleJobsAsync(app);
        Assert.Equal(before, Outbox.Read(app.PickupFolder).Count);
    }
}
