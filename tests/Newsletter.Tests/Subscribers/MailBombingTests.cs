using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;
using Newsletter.Web.Subscribers;
using static Newsletter.Tests.Sending.SendingFixture;

namespace Newsletter.Tests.Subscribers;

/// <summary>
/// Nobody can fill a stranger's inbox through the forms that send mail: each has a limit per client and one
/// per address, and the page answers the same whatever the limit, the address or its state.
/// </summary>
public class MailBombingTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task FiftyFivePreferencesLinkRequestsForOneReaderFromManyClientsSendAtMostThreeAndLeaveTheReadersOwnRequestsAlone()
    {
        await using var smtp = await SmtpServer.StartAsync();
        // The hourly cap alone: the window that makes a double click one request has its test below.
        using var app = new NewsletterApp(new(smtp.AppSettings) { ["Subscriptions:RepeatedRequestWindow"] = "00:00:00" });
        await AddReadersAsync(app, 1, prefix: "victim");
        using var clients = app.WithWebHostBuilder(b => b.ConfigureServices(s => s.AddSingleton<IStartupFilter, EachRequestFromANewClient>()));

        var pages = new List<(HttpStatusCode Status, string Body)>();
        for (var i = 0; i < 55; i++)
        {
            var response = await Forms.PostAsync(clients.CreateClient(), "/preferences", new Dictionary<string, string> { ["email"] = "victim0000@example.org" }, "/preferences?handler=Link");
            pages.Add((response.StatusCode, await response.Content.ReadAsStringAsync(Ct)));
        }

        Assert.All(pages, p => Assert.Equal(HttpStatusCode.OK, p.Status));
        Assert.All(pages, p => Assert.Contains(WebUtility.HtmlEncode(PreferencesModel.LinkAnswer), p.Body, StringComparison.Ordinal));
        await SubscribeTests.WaitForIdleJobsAsync(app);
        Assert.Equal(3, smtp.Messages().Count(m => m.EnvelopeTo == "victim0000@example.org"));

        // The strangers' flood spent the public form's budget, not the reader's own: from their link, the reader's
        // data requests still go out, three an hour, and the fourth is told the truth instead of "We've emailed".
        var path = Outbox.PathOf(Outbox.Link(smtp.Messages().First(m => m.EnvelopeTo == "victim0000@example.org").Message, "/preferences/"));
        var reader = app.CreateBrowserClient();
        var asked = new List<(HttpStatusCode Status, string Body)>();
        for (var i = 0; i < 4; i++)
        {
            var response = await Forms.PostAsync(reader, path, new Dictionary<string, string> { ["kind"] = i % 2 == 0 ? "download" : "erase" }, path + "?handler=DataRequest");
            asked.Add((response.StatusCode, WebUtility.HtmlDecode(await response.Content.ReadAsStringAsync(Ct))));
        }

        Assert.All(asked[..3], a => Assert.Equal(HttpStatusCode.OK, a.Status));
        Assert.All(asked[..3], a => Assert.Contains("We've emailed victim0000@example.org a link", a.Body, StringComparison.Ordinal));
        Assert.Equal(HttpStatusCode.TooManyRequests, asked[3].Status);
        Assert.Contains("We've already emailed victim0000@example.org 3 such links in the last hour, so no more are sent for now.", asked[3].Body, StringComparison.Ordinal);
        await smtp.WaitForAsync(6, TimeSpan.FromSeconds(30), m => m.EnvelopeTo == "victim0000@example.org");
        await SubscribeTests.WaitForIdleJobsAsync(app);
        Assert.Equal(6, smtp.Messages().Count(m => m.EnvelopeTo == "victim0000@example.org"));
    }

    [Fact]
    public async Task ADoubleClickedLinkOrDataRequestSendsOneEmail()
    {
        await using var smtp = await SmtpServer.StartAsync();
        using var app = new NewsletterApp(smtp.AppSettings);
        await AddReadersAsync(app, 1, prefix: "clicker");

        // "Email me a link", pressed twice at once (in other letters' case the second time): both pages say it went, one email goes.
        var twice = await Task.WhenAll(
            Forms.PostAsync(app.CreateBrowserClient(), "/preferences", new Dictionary<string, string> { ["email"] = "clicker0000@example.org" }, "/preferences?handler=Link"),
            Forms.PostAsync(app.CreateBrowserClient(), "/preferences", new Dictionary<string, string> { ["email"] = "Clicker0000@Example.org" }, "/preferences?handler=Link"));
        foreach (var page in twice)
        {
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
            Assert.Contains(WebUtility.HtmlEncode(PreferencesModel.LinkAnswer), await page.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        }

        var link = (await smtp.WaitForAsync(1, TimeSpan.FromSeconds(30), m => m.EnvelopeTo == "clicker0000@example.org")).Message;
        await SubscribeTests.WaitForIdleJobsAsync(app);
        Assert.Equal(1, smtp.Messages().Count(m => m.EnvelopeTo == "clicker0000@example.org"));

        // "Email me my data", twice at once from the preferences page.
        var path = Outbox.PathOf(Outbox.Link(link, "/preferences/"));
        var browser = app.CreateBrowserClient();
        var token = await Forms.TokenAsync(browser, path);
        FormUrlEncodedContent Ask() => new(new Dictionary<string, string> { ["__RequestVerificationToken"] = token, ["kind"] = "download" });
        var asked = await Task.WhenAll(browser.PostAsync(path + "?handler=DataRequest", Ask(), Ct), browser.PostAsync(path + "?handler=DataRequest", Ask(), Ct));
        Assert.All(asked, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        await smtp.WaitForAsync(2, TimeSpan.FromSeconds(30), m => m.EnvelopeTo == "clicker0000@example.org");
        await SubscribeTests.WaitForIdleJobsAsync(app);
        Assert.Equal(2, smtp.Messages().Count(m => m.EnvelopeTo == "clicker0000@example.org"));
    }

    [Fact]
    public async Task APendingOrUnknownAddressGetsNoPreferencesLinkAndTheSameAnswerAsAReader()
    {
        await using var smtp = await SmtpServer.StartAsync();
        using var app = new NewsletterApp(smtp.AppSettings);
        await AddReadersAsync(app, 1, SubscriberStatus.Pending, prefix: "pending");
        await AddReadersAsync(app, 1, prefix: "active");

        async Task<string> AskAsync(string email)
        {
            var response = await Forms.PostAsync(app.CreateBrowserClient(), "/preferences", new Dictionary<string, string> { ["email"] = email }, "/preferences?handler=Link");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var body = await response.Content.ReadAsStringAsync(Ct);
            // The form's antiforgery token is the only part that may differ.
            return System.Text.RegularExpressions.Regex.Replace(body, "value=\"[^\"]{40,}\"", "");
        }

        var pending = await AskAsync("pending0000@example.org");
        var unknown = await AskAsync("nobody@example.org");
        var active = await AskAsync("active0000@example.org");
        Assert.Equal(active, pending);
        Assert.Equal(active, unknown);

        await smtp.WaitForAsync(1, TimeSpan.FromSeconds(30), m => m.EnvelopeTo == "active0000@example.org");
        await SubscribeTests.WaitForIdleJobsAsync(app);
        Assert.DoesNotContain(smtp.Messages(), m => m.EnvelopeTo is "pending0000@example.org" or "nobody@example.org");
    }

    [Fact]
    public async Task OneClientAskingForManyAddressesIsStoppedOnEveryForm()
    {
        using var app = new NewsletterApp();
        var links = new List<HttpStatusCode>();
        var resets = new List<HttpStatusCode>();
        await RateWindows.FreshMinuteAsync(Ct);
        for (var i = 0; i < 12; i++)
        {
            links.Add((await Forms.PostAsync(app.CreateBrowserClient(), "/preferences", new Dictionary<string, string> { ["email"] = $"r{i}@example.org" }, "/preferences?handler=Link")).StatusCode);
            resets.Add((await Forms.PostAsync(app.CreateBrowserClient(), "/admin/forgot-password", new Dictionary<string, string> { ["Email"] = $"r{i}@example.org" })).StatusCode);
        }

        Assert.Equal(10, links.Count(c => c == HttpStatusCode.OK));
        Assert.Equal(2, links.Count(c => c == HttpStatusCode.TooManyRequests));
        Assert.Equal(10, resets.Count(c => c == HttpStatusCode.OK));
        Assert.Equal(2, resets.Count(c => c == HttpStatusCode.TooManyRequests));
    }

    /// <summary>Gives every request its own client address, as a botnet would have.</summary>
    private sealed class EachRequestFromANewClient : IStartupFilter
    {
        private int _next;

        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use((context, go) =>
            {
                var n = Interlocked.Increment(ref _next);
                context.Connection.RemoteIpAddress = new IPAddress([10, 1, (byte)(n / 250), (byte)(n % 250 + 1)]);
                return go(context);
            });
            next(app);
        };
    }
}
