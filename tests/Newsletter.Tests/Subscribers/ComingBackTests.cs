using System.Net;
using System.Text.RegularExpressions;
using Newsletter.Testing;
using Newsletter.Web.Subscribers;

namespace Newsletter.Tests.Subscribers;

/// <summary>
/// Subscribing again, asking twice, opening an old link: every page says what really happened, and the
/// page after the form tells the person at the keyboard only what their own browser did.
/// </summary>
public partial class ComingBackTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<ReceivedMessage> WaitForConfirmationAsync(SmtpServer smtp, string to, int count)
    {
        var messages = await smtp.WaitForAsync(count, TimeSpan.FromSeconds(90), m => m.EnvelopeTo == to && m.Message.Subject!.StartsWith("Confirm", StringComparison.Ordinal));
        return messages;
    }

    private static int Confirmations(SmtpServer smtp, string to) =>
        smtp.Messages().Count(m => m.EnvelopeTo == to && m.Message.Subject!.StartsWith("Confirm", StringComparison.Ordinal));

    private static async Task<string> CheckInboxPageAsync(HttpClient browser, string email)
    {
        var posted = await SubscribeTests.SubscribeAsync(browser, email);
        Assert.Equal(HttpStatusCode.Redirect, posted.StatusCode);
        var page = await browser.GetAsync(posted.Headers.Location, Ct);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        return WebUtility.HtmlDecode(await page.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task ResubscribingRightAfterUnsubscribingSendsANewConfirmationAtOnce()
    {
        await using var smtp = await SmtpServer.StartAsync();
        using var app = new NewsletterApp(smtp.AppSettings);
        var browser = app.CreateBrowserClient();
        await SubscribeTests.SubscribeAsync(browser, "back@example.org");
        var first = await WaitForConfirmationAsync(smtp, "back@example.org", 1);
        await Forms.PostAsync(browser, Outbox.PathOf(Outbox.Link(first.Message, "/confirm/")), new Dictionary<string, string>());
        var welcome = await smtp.WaitForAsync(1, TimeSpan.FromSeconds(60), m => m.Message.Subject!.StartsWith("Welcome", StringComparison.Ordinal));
        var left = await browser.PostAsync(Outbox.PathOf(Outbox.Link(welcome.Message, "/unsubscribe/")), new FormUrlEncodedContent([]), Ct);
        Assert.Equal(HttpStatusCode.OK, left.StatusCode);

        // A minute after the first confirmation, well inside the ten-minute wait: the reader left and came back.
        await SubscribeTests.SubscribeAsync(browser, "back@example.org");
        var second = await smtp.WaitForAsync(1, TimeSpan.FromSeconds(60), m => m.Message.Subject!.StartsWith("Confirm", StringComparison.Ordinal) && m.File != first.File);
        Assert.Equal(SubscriberStatus.Pending, (await SubscribeTests.FindAsync(app, "back@example.org"))!.Status);

        // The first email's link now: the page says a newer one was sent, where it showed a button that then
        // failed with "this link doesn't work"; pressed anyway, the button says the same.
        var oldPath = Outbox.PathOf(Outbox.Link(first.Message, "/confirm/"));
        var old = await browser.GetAsync(oldPath, Ct);
        var oldPage = WebUtility.HtmlDecode(await old.Content.ReadAsStringAsync(Ct));
        Assert.Equal(HttpStatusCode.OK, old.StatusCode);
        Assert.Contains("A newer link was sent", oldPage, StringComparison.Ordinal);
        Assert.DoesNotContain("Confirm my subscription", oldPage, StringComparison.Ordinal);
        // (The antiforgery token comes from another form of this browser's: the page has no button now.)
        var pressed = await Forms.PostAsync(browser, "/admin/setup", new Dictionary<string, string>(), oldPath);
        Assert.Contains("A newer link was sent", WebUtility.HtmlDecode(await pressed.Content.ReadAsStringAsync(Ct)), StringComparison.Ordinal);
        Assert.Equal(SubscriberStatus.Pending, (await SubscribeTests.FindAsync(app, "back@example.org"))!.Status);

        var confirmed = await Forms.PostAsync(browser, Outbox.PathOf(Outbox.Link(second.Message, "/confirm/")), new Dictionary<string, string>());
        Assert.Contains("You're subscribed", await confirmed.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Equal(SubscriberStatus.Active, (await SubscribeTests.FindAsync(app, "back@example.org"))!.Status);
    }

    [Fact]
    public async Task AskingAgainWithinTheWaitSendsTheNextConfirmationWhenTheWaitIsUpAndNoMore()
    {
        await using var smtp = await SmtpServer.StartAsync();
        using var app = new NewsletterApp(new(smtp.AppSettings) { ["Subscriptions:ResendConfirmationInterval"] = "00:00:03" });
        var browser = app.CreateBrowserClient();
        await SubscribeTests.SubscribeAsync(browser, "eager@example.org");
        await WaitForConfirmationAsync(smtp, "eager@example.org", 1);
        for (var i = 0; i < 3; i++)
        {
            await SubscribeTests.SubscribeAsync(app.CreateBrowserClient(), "eager@example.org");
        }

        // Nothing was dropped: one more arrives when the wait is up, and only one for the three requests.
        await WaitForConfirmationAsync(smtp, "eager@example.org", 2);
        await SubscribeTests.WaitForIdleJobsAsync(app);
        Assert.Equal(2, Confirmations(smtp, "eager@example.org"));
        var reader = await SubscribeTests.FindAsync(app, "eager@example.org");
        Assert.Equal(SubscriberStatus.Pending, reader!.Status);
    }

    [Fact]
    public async Task TheCheckYourInboxPageSaysWhatThisBrowserDidAndNothingAboutTheAddress()
    {
        await using var smtp = await SmtpServer.StartAsync();
        using var app = new NewsletterApp(smtp.AppSettings);
        var reader = app.CreateBrowserClient();
        await SubscribeTests.SubscribeAsync(reader, "known@example.org");
        var confirmation = await WaitForConfirmationAsync(smtp, "known@example.org", 1);
        await Forms.PostAsync(reader, Outbox.PathOf(Outbox.Link(confirmation.Message, "/confirm/")), new Dictionary<string, string>());
        Assert.Equal(SubscriberStatus.Active, (await SubscribeTests.FindAsync(app, "known@example.org"))!.Status);

        // A stranger types in a reader's address, and someone else a new one: the same page, but for the time.
        var stranger = await CheckInboxPageAsync(app.CreateBrowserClient(), "known@example.org");
        var newcomer = await CheckInboxPageAsync(app.CreateBrowserClient(), "new@example.org");
        Assert.Contains("We got your request at ", stranger, StringComparison.Ordinal);
        // In the site's zone (the repository's appsettings.json says Europe/Berlin), named.
        Assert.Matches(@"at \d\d:\d\d \(Europe/Berlin time\)", stranger);
        Assert.Contains("at most one of these emails every 10 minutes", stranger, StringComparison.Ordinal);
        Assert.Equal(WithoutTimes(newcomer), WithoutTimes(stranger));
        Assert.DoesNotContain("already", Regex.Replace(stranger, "subscribed already", ""), StringComparison.Ordinal);

        // The same browser asks again for the same address: it is told what it did and when the next can go.
        var browser = app.CreateBrowserClient();
        var once = await CheckInboxPageAsync(browser, "twice@example.org");
        var again = await CheckInboxPageAsync(browser, "twice@example.org");
        Assert.DoesNotContain("You asked for this address", once, StringComparison.Ordinal);
        var m = AskedAgain().Match(again);
        Assert.True(m.Success, again);
        var first = TimeSpan.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        var next = TimeSpan.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(10, ((next - first).TotalMinutes + (24 * 60)) % (24 * 60));
        Assert.Contains("There's no need to ask again", again, StringComparison.Ordinal);
        // The page can't know whether an email went out in between (a reader who left and came back gets one at
        // once), so it points at the newest email, not at "the first one".
        Assert.Contains("Use the link in the newest email", again, StringComparison.Ordinal);
        Assert.DoesNotContain("the first one", again, StringComparison.Ordinal);

        // The same browser asking for another address learns nothing from the first.
        Assert.DoesNotContain("You asked for this address", await CheckInboxPageAsync(browser, "other@example.org"), StringComparison.Ordinal);
        // A forged cookie is ignored.
        var forged = app.CreateClient(new Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactoryClientOptions { HandleCookies = false, AllowAutoRedirect = false });
        using var post = new HttpRequestMessage(HttpMethod.Post, "/subscribe") { Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["email"] = "twice@example.org" }) };
        post.Headers.Add("Cookie", SubscribeReceipts.CookieName + "=forged");
        var answer = await forged.SendAsync(post, Ct);
        using var get = new HttpRequestMessage(HttpMethod.Get, answer.Headers.Location);
        get.Headers.Add("Cookie", string.Join("; ", answer.Headers.GetValues("Set-Cookie").Select(c => c.Split(';')[0]).Append(SubscribeReceipts.CookieName + "=forged")));
        var forgedPage = await (await forged.SendAsync(get, Ct)).Content.ReadAsStringAsync(Ct);
        Assert.Contains("We got your request at", forgedPage, StringComparison.Ordinal);
        Assert.DoesNotContain("You asked for this address", forgedPage, StringComparison.Ordinal);

        await SubscribeTests.WaitForIdleJobsAsync(app);
        Assert.Equal(1, Confirmations(smtp, "twice@example.org"));
    }

    [Fact]
    public async Task AConfirmedReaderOpeningTheConfirmLinkAgainIsToldSoAndAnUnsubscribedOneThatTheyLeft()
    {
        await using var smtp = await SmtpServer.StartAsync();
        using var app = new NewsletterApp(smtp.AppSettings);
        var browser = app.CreateBrowserClient();
        await SubscribeTests.SubscribeAsync(browser, "settled@example.org");
        var confirmation = await WaitForConfirmationAsync(smtp, "settled@example.org", 1);
        var link = Outbox.PathOf(Outbox.Link(confirmation.Message, "/confirm/"));
        await Forms.PostAsync(browser, link, new Dictionary<string, string>());

        var again = await app.CreateClient().GetAsync(link, Ct);
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        var page = await again.Content.ReadAsStringAsync(Ct);
        Assert.Contains("You're already confirmed", page, StringComparison.Ordinal);
        Assert.DoesNotContain("Confirm my subscription", page, StringComparison.Ordinal);
        Assert.Contains("/preferences/", page, StringComparison.Ordinal);

        var welcome = await smtp.WaitForAsync(1, TimeSpan.FromSeconds(60), m => m.Message.Subject!.StartsWith("Welcome", StringComparison.Ordinal));
        var unsubscribe = Outbox.PathOf(Outbox.Link(welcome.Message, "/unsubscribe/"));
        await browser.PostAsync(unsubscribe, new FormUrlEncodedContent([]), Ct);

        // The unsubscribe link, opened again, says they left; no button to press.
        var gone = await (await app.CreateClient().GetAsync(unsubscribe, Ct)).Content.ReadAsStringAsync(Ct);
        Assert.Contains("You're already unsubscribed", gone, StringComparison.Ordinal);
        Assert.DoesNotContain("<button type=\"submit\" class=\"btn btn-primary\">Unsubscribe", gone, StringComparison.Ordinal);

        // The old confirmation link neither asks to confirm nor brings the reader back, on GET or POST.
        var left = await app.CreateClient().GetAsync(link, Ct);
        Assert.Equal(HttpStatusCode.OK, left.StatusCode);
        Assert.Contains("You unsubscribed", await left.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        // The page has no form now; the browser's antiforgery token from any page will do.
        var token = await Forms.TokenAsync(browser, "/preferences");
        var posted = await browser.PostAsync(link, new FormUrlEncodedContent(new Dictionary<string, string> { ["__RequestVerificationToken"] = token }), Ct);
        Assert.Equal(HttpStatusCode.OK, posted.StatusCode);
        Assert.Contains("You unsubscribed", await posted.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Equal(SubscriberStatus.Unsubscribed, (await SubscribeTests.FindAsync(app, "settled@example.org"))!.Status);
    }

    private static string WithoutTimes(string page) => Regex.Replace(page, @"\d\d:\d\d", "hh:mm");

    [GeneratedRegex(@"You asked for this address at (\d\d:\d\d) already.*?If one went out\s+shortly before, the next goes out by itself at (\d\d:\d\d) at the earliest \(times in Europe/Berlin\)", RegexOptions.Singleline)]
    private static partial Regex AskedAgain();
}
