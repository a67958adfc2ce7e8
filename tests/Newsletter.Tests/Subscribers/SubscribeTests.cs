using System.Net;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;
using Newsletter.Web.Data;
using Newsletter.Web.Subscribers;

namespace Newsletter.Tests.Subscribers;

public class SubscribeTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    internal static Task<HttpResponseMessage> SubscribeAsync(HttpClient client, string email, string? website = null) =>
        client.PostAsync("/subscribe", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["email"] = email,
            ["source"] = "home",
            ["website"] = website ?? "",
        }), Ct);

    internal static async Task<Subscriber?> FindAsync(NewsletterApp app, string email)
    {
        await using var scope = app.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AppDbContext>().Subscribers.AsNoTracking()
            .FirstOrDefaultAsync(s => s.EmailKey == email.ToLowerInvariant(), Ct);
    }

    internal static async Task<string> ConfirmAsync(NewsletterApp app, HttpClient client, string email)
    {
        var confirm = await app.WaitForMailAsync(email, m => m.TextBody?.Contains("/confirm/", StringComparison.Ordinal) == true);
        var path = Outbox.PathOf(Outbox.Link(confirm, "/confirm/"));
        var response = await Forms.PostAsync(client, path, new Dictionary<string, string>());
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return path;
    }

    /// <summary>A mistyped address comes back in the form with the reason, to be corrected rather than retyped; a reload of /subscribe shows the form.</summary>
    [Fact]
    public async Task AMistypedAddressComesBackInTheFormAndAGetOfSubscribeShowsTheForm()
    {
        using var app = new NewsletterApp();
        var client = app.CreateBrowserClient();
        var response = await SubscribeAsync(client, "ann@example\"><script>x</script>");
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        var page = await client.GetStringAsync(response.Headers.Location!.OriginalString, Ct);
        Assert.Contains("That address doesn't look right", page, StringComparison.Ordinal);
        Assert.Contains("value=\"ann@example&quot;&gt;&lt;script&gt;x&lt;/script&gt;\"", page, StringComparison.Ordinal);
        Assert.DoesNotContain("<script>x", page, StringComparison.Ordinal);
        // Only once: the next page's form is empty again.
        Assert.DoesNotContain("value=\"ann@", await client.GetStringAsync("/subscribe/check-your-inbox", Ct), StringComparison.Ordinal);

        var get = await app.CreateClient().GetAsync("/subscribe", Ct);
        Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        Assert.Equal("/", get.RequestMessage!.RequestUri!.AbsolutePath);
        Assert.Contains("action=\"/subscribe\"", await get.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }

    /// <summary>The form's name field is anyone's words: the confirmation request to an address that never agreed carries none of them.</summary>
    [Fact]
    public async Task ANameTypedIntoTheFormIsNotInTheConfirmationRequest()
    {
        using var app = new NewsletterApp();
        var response = await app.CreateClient().PostAsync("/subscribe", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["email"] = "victim@example.org", ["name"] = "You won! Claim at https://evil.example/prize", ["source"] = "home", ["website"] = "",
        }), Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode); // followed to check-your-inbox
        var mail = await app.WaitForMailAsync("victim@example.org");
        Assert.Contains("/confirm/", mail.TextBody, StringComparison.Ordinal);
        Assert.Contains("Someone, hopefully you, asked", mail.TextBody, StringComparison.Ordinal);
        foreach (var part in new[] { mail.TextBody!, mail.HtmlBody!, mail.Headers[MimeKit.HeaderId.To] })
        {
            Assert.DoesNotContain("evil.example", part, StringComparison.Ordinal);
            Assert.DoesNotContain("You won", part, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task AConfirmationLinkShowsAButtonAndOnlyThePostConfirms()
    {
        using var app = new NewsletterApp();
        var client = app.CreateBrowserClient();
        var response = await SubscribeAsync(client, "reader@example.org");
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal("/subscribe/check-your-inbox", response.Headers.Location!.OriginalString);

        var mail = await app.WaitForMailAsync("reader@example.org");
        var link = Outbox.Link(mail, "/confirm/");
        // A link scanner fetches the link (twice, even): nothing changes.
        var scan = await app.CreateClient().GetAsync(Outbox.PathOf(link), Ct);
        await app.CreateClient().GetAsync(Outbox.PathOf(link), Ct);
        Assert.Equal(HttpStatusCode.OK, scan.StatusCode);
        Assert.Contains("Confirm my subscription", await scan.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Equal(SubscriberStatus.Pending, (await FindAsync(app, "reader@example.org"))!.Status);

        var confirmed = await Forms.PostAsync(client, Outbox.PathOf(link), new Dictionary<string, string>());
        Assert.Contains("You're subscribed", await confirmed.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        var subscriber = await FindAsync(app, "reader@example.org");
        Assert.Equal(SubscriberStatus.Active, subscriber!.Status);
        Assert.NotNull(subscriber.ConfirmedAt);
        await app.WaitForMailAsync("reader@example.org", m => m.Subject?.Contains("Welcome", StringComparison.OrdinalIgnoreCase) == true);
    }

    /// <summary>
    /// The signed link is the credential: a reader whose browser blocks cookies (so has no antiforgery cookie) is
    /// confirmed by the button, instead of getting a 400 that called the link malformed.
    /// </summary>
    [Fact]
    public async Task TheConfirmButtonWorksWithCookiesBlocked()
    {
        using var app = new NewsletterApp();
        await SubscribeAsync(app.CreateBrowserClient(), "nocookies@example.org");
        var path = Outbox.PathOf(Outbox.Link(await app.WaitForMailAsync("nocookies@example.org"), "/confirm/"));
        var noCookies = app.CreateClient(new Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactoryClientOptions { HandleCookies = false, AllowAutoRedirect = false });

        Assert.Contains("Confirm my subscription", await noCookies.GetStringAsync(path, Ct), StringComparison.Ordinal);
        Assert.Equal(SubscriberStatus.Pending, (await FindAsync(app, "nocookies@example.org"))!.Status);
        var confirmed = await noCookies.PostAsync(path, new FormUrlEncodedContent(new Dictionary<string, string>()), Ct);

        Assert.Equal(HttpStatusCode.OK, confirmed.StatusCode);
        Assert.Contains("You're subscribed", await confirmed.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Equal(SubscriberStatus.Active, (await FindAsync(app, "nocookies@example.org"))!.Status);
    }

    [Fact]
    public async Task ConcurrentConfirmClicksConfirmOnceAndTheLinkThenSaysAlreadyConfirmed()
    {
        using var app = new NewsletterApp();
        var client = app.CreateBrowserClient();
        await SubscribeAsync(client, "twice@example.org");
        var path = Outbox.PathOf(Outbox.Link(await app.WaitForMailAsync("twice@example.org"), "/confirm/"));
        var token = await Forms.TokenAsync(client, path);
        FormUrlEncodedContent Form() => new(new Dictionary<string, string> { ["__RequestVerificationToken"] = token });
        var results = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => client.PostAsync(path, Form(), Ct)));
        var bodies = await Task.WhenAll(results.Select(r => r.Content.ReadAsStringAsync(Ct)));
        Assert.Single(bodies, b => b.Contains("You're subscribed", StringComparison.Ordinal));
        Assert.All(bodies, b => Assert.True(b.Contains("subscribed", StringComparison.Ordinal)));
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var id = (await FindAsync(app, "twice@example.org"))!.Id;
        Assert.Equal(1, await db.SubscriberEvents.CountAsync(e => e.SubscriberId == id && e.Kind == SubscriberEventKind.Confirmed, Ct));
    }

    [Theory]
    [InlineData("not-a-token")]
    [InlineData("CfDJ8AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("%0d%0aSet-Cookie:%20x=y")]
    public async Task AForgedConfirmationTokenIsRefusedAndChangesNothing(string token)
    {
        using var app = new NewsletterApp();
        var client = app.CreateBrowserClient();
        var get = await client.GetAsync("/confirm/" + token, Ct);
        Assert.Equal(HttpStatusCode.BadRequest, get.StatusCode);
        Assert.Contains("This link doesn't work", await get.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.False(get.Headers.Contains("Set-Cookie") && get.Headers.GetValues("Set-Cookie").Any(c => c.StartsWith("x=", StringComparison.Ordinal)));
    }

    [Theory]
    [InlineData("not-a-token")]
    [InlineData("CfDJ8AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    public async Task AForgedPreferencesLinkIsRefusedWithItsStatusAndOffersANewLink(string token)
    {
        using var app = new NewsletterApp();
        var client = app.CreateBrowserClient();
        var get = await client.GetAsync("/preferences/" + token, Ct);
        Assert.Equal(HttpStatusCode.BadRequest, get.StatusCode);
        var page = await get.Content.ReadAsStringAsync(Ct);
        Assert.Contains("This link doesn't work", page, StringComparison.Ordinal);
        Assert.Contains("Email me a link", page, StringComparison.Ordinal);
        // Without a token the page is the plain "email me my link" form, not an error.
        var plain = await client.GetAsync("/preferences", Ct);
        Assert.Equal(HttpStatusCode.OK, plain.StatusCode);
        Assert.DoesNotContain("This link doesn't work", await plain.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnExpiredConfirmationLinkSaysSoAndDoesNotConfirm()
    {
        using var app = new NewsletterApp(new() { ["Subscriptions:ConfirmationTokenLifetime"] = "00:00:01" });
        var client = app.CreateBrowserClient();
        await SubscribeAsync(client, "late@example.org");
        var path = Outbox.PathOf(Outbox.Link(await app.WaitForMailAsync("late@example.org"), "/confirm/"));
        await Task.Delay(1500, Ct);
        var page = await client.GetStringAsync(path, Ct);
        Assert.Contains("This link has expired", page, StringComparison.Ordinal);
        // A button pressed on a page opened before it expired says the same, not "this link doesn't work".
        // (The antiforgery token comes from another form of this browser's: the expired page has no button.)
        var posted = await Forms.PostAsync(client, "/admin/setup", new Dictionary<string, string>(), path);
        Assert.Equal(HttpStatusCode.OK, posted.StatusCode);
        Assert.Contains("This link has expired", await posted.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Equal(SubscriberStatus.Pending, (await FindAsync(app, "late@example.org"))!.Status);
    }

    [Fact]
    public async Task TheAnswerIsTheSameForNewPendingActiveAndUnsubscribedAddresses()
    {
        using var app = new NewsletterApp(new() { ["Subscriptions:ResendConfirmationInterval"] = "00:00:00" });
        var client = app.CreateBrowserClient();
        await SubscribeAsync(client, "active@example.org");
        await SubscribeTests.ConfirmAsync(app, client, "active@example.org");
        await SubscribeAsync(client, "pending@example.org");
        await app.WaitForMailAsync("pending@example.org");

        var answers = new List<string>();
        foreach (var email in new[] { "new@example.org", "pending@example.org", "active@example.org" })
        {
            var form = await SubscribeAsync(app.CreateBrowserClient(), email);
            answers.Add($"{(int)form.StatusCode} {form.Headers.Location}");
            var json = await app.CreateClient().PostAsJsonAsync("/subscribe", new { email }, Ct);
            answers.Add($"{(int)json.StatusCode} {await json.Content.ReadAsStringAsync(Ct)}");
        }

        Assert.Equal(2, answers.Distinct().Count()); // one form answer, one JSON answer, whoever asks
        // The active reader gets a notice, never a second confirmation.
        var notice = await app.WaitForMailAsync("active@example.org", m => m.TextBody?.Contains("already", StringComparison.OrdinalIgnoreCase) == true);
        Assert.DoesNotContain("/confirm/", notice.TextBody, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SubscribingAgainWhilePendingResendsAtMostOncePerInterval()
    {
        using var app = new NewsletterApp(new() { ["Subscriptions:ResendConfirmationInterval"] = "01:00:00" });
        var client = app.CreateBrowserClient();
        for (var i = 0; i < 4; i++)
        {
            await SubscribeAsync(client, "eager@example.org");
        }

        await app.WaitForMailAsync("eager@example.org");
        await Task.Delay(1500, Ct);
        Assert.Single(Outbox.Read(app.PickupFolder), m => m.To.Mailboxes.Any(b => b.Address == "eager@example.org"));
    }

    [Fact]
    public async Task AFilledHoneypotIsAnsweredPolitelyAndStoresNothing()
    {
        using var app = new NewsletterApp();
        var response = await SubscribeAsync(app.CreateBrowserClient(), "bot@example.org", website: "http://spam.example");
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Null(await FindAsync(app, "bot@example.org"));
    }

    [Theory]
    [InlineData("not an email")]
    [InlineData("a@b@example.org")]
    [InlineData("victim@example.org\r\nBcc: everyone@example.org")]
    [InlineData("<script>@example.org")]
    [InlineData("")]
    public async Task MalformedAndHostileAddressesGetAClearErrorAndStoreNothing(string email)
    {
        using var app = new NewsletterApp();
        var json = await app.CreateClient().PostAsJsonAsync("/subscribe", new { email }, Ct);
        Assert.Equal(HttpStatusCode.BadRequest, json.StatusCode);
        Assert.Contains("detail", await json.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        await using var scope = app.Services.CreateAsyncScope();
        Assert.Equal(0, await scope.ServiceProvider.GetRequiredService<AppDbContext>().Subscribers.CountAsync(Ct));
    }

    [Fact]
    public async Task PlusAddressesAndInternationalDomainsAreAccepted()
    {
        using var app = new NewsletterApp();
        var client = app.CreateClient();
        Assert.Equal(HttpStatusCode.Accepted, (await client.PostAsJsonAsync("/subscribe", new { email = "reader+news@example.org" }, Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, (await client.PostAsJsonAsync("/subscribe", new { email = "leser@bücher.de" }, Ct)).StatusCode);
        // The sign-up is a job (the same work for every address): the readers are there once it ran.
        await WaitForIdleJobsAsync(app);
        Assert.NotNull(await FindAsync(app, "reader+news@example.org"));
        Assert.NotNull(await FindAsync(app, "leser@bücher.de"));
    }

    [Fact]
    public async Task TooManyRequestsFromOneAddressAreRateLimited()
    {
        using var app = new NewsletterApp(new() { ["Subscriptions:PerIpPerMinute"] = "3" });
        var client = app.CreateClient();
        await RateWindows.FreshMinuteAsync(Ct);
        var codes = new List<HttpStatusCode>();
        for (var i = 0; i < 5; i++)
        {
            codes.Add((await client.PostAsJsonAsync("/subscribe", new { email = $"r{i}@example.org" }, Ct)).StatusCode);
        }

        Assert.Equal(3, codes.Count(c => c == HttpStatusCode.Accepted));
        Assert.Equal(2, codes.Count(c => c == HttpStatusCode.TooManyRequests));
    }

    [Fact]
    public async Task ASubscribeOverTheLimitSaysWhenToTryAgainAndAJsonClientGetsProblemJson()
    {
        using var app = new NewsletterApp(new() { ["Subscriptions:PerIpPerMinute"] = "1" });
        var client = app.CreateClient(new Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactoryClientOptions { AllowAutoRedirect = false });
        await RateWindows.FreshMinuteAsync(Ct);
        Assert.Equal(HttpStatusCode.Accepted, (await client.PostAsJsonAsync("/subscribe", new { email = "first@example.org" }, Ct)).StatusCode);

        // A script gets its error as the endpoint's other errors come, and how long to wait: the rest of the minute.
        var json = await client.PostAsJsonAsync("/subscribe", new { email = "second@example.org" }, Ct);
        Assert.Equal(HttpStatusCode.TooManyRequests, json.StatusCode);
        Assert.Equal("application/problem+json", json.Content.Headers.ContentType?.MediaType);
        Assert.InRange(json.Headers.RetryAfter?.Delta?.TotalSeconds ?? 0, 1, 60);
        using (var problem = System.Text.Json.JsonDocument.Parse(await json.Content.ReadAsStringAsync(Ct)))
        {
            Assert.Equal(429, problem.RootElement.GetProperty("status").GetInt32());
            Assert.Contains("Retry-After", problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }

        // A browser's form gets the page, with the same header.
        var form = await SubscribeAsync(client, "third@example.org");
        Assert.Equal(HttpStatusCode.TooManyRequests, form.StatusCode);
        Assert.InRange(form.Headers.RetryAfter?.Delta?.TotalSeconds ?? 0, 1, 60);
        Assert.Contains("Slow down a little", await form.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task SubscribePostsArrivingAtOnceMakeOneReaderAndOneConfirmation()
    {
        using var app = new NewsletterApp();
        // A double (or quadruple) click: the requests race to the insert.
        var responses = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => app.CreateClient().PostAsJsonAsync("/subscribe", new { email = "twice@example.org" }, Ct)));
        Assert.All(responses, r => Assert.Equal(HttpStatusCode.Accepted, r.StatusCode));
        await app.WaitForMailAsync("twice@example.org");
        await WaitForIdleJobsAsync(app);
        Assert.Single(Outbox.Read(app.PickupFolder));
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        Assert.Equal(1, await db.Subscribers.CountAsync(Ct));
        Assert.Equal(1, await db.SubscriberEvents.CountAsync(e => e.Kind == SubscriberEventKind.ConfirmationSent, Ct));
    }

    /// <summary>
    /// Waits until nothing is queued, claimed or running, so "only one email" is checked after every job had
    /// its chance. A claimed job is not yet Processing (a worker fetches it, then commits the state), so the
    /// queues' Fetched count must be zero too.
    /// </summary>
    internal static async Task WaitForIdleJobsAsync(NewsletterApp app)
    {
        var monitor = app.Services.GetRequiredService<global::Hangfire.JobStorage>().GetMonitoringApi();
        var deadline = DateTime.UtcNow.AddSeconds(90);
        // Sign-ups wait in the database until the dispatcher takes them, and the emails it decides on until they
        // are handed to Hangfire: both first, then the jobs they became (a handed-over row stays until its job
        // sent it, and one scheduled for later stays that long).
        while (true)
        {
            await using (var scope = app.Services.CreateAsyncScope())
            {
                var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
                if (!await db.SignUps.AnyAsync(Ct) && !await db.PendingMails.AnyAsync(m => m.ClaimedUntil != PendingMails.HandedOver, Ct))
                {
                    break;
                }
            }

            Assert.True(DateTime.UtcNow < deadline, "sign-ups or reader emails still waiting after 90 s\n" + app.JobDiagnostics());
            await Task.Delay(100, Ct);
        }

        while (monitor.ProcessingCount() > 0 || monitor.Queues().Any(q => q.Length > 0 || q.Fetched > 0))
        {
            Assert.True(DateTime.UtcNow < deadline, app.JobDiagnostics());
            await Task.Delay(100, Ct);
        }
    }

    [Fact]
    public async Task BehindTheLocalProxyTheLimitCountsEachReaderNotTheProxy()
    {
        using var app = new NewsletterApp(new() { ["Subscriptions:PerIpPerMinute"] = "2" });
        // Requests arrive from 127.0.0.1, as they do from nginx on the same machine.
        using var proxied = app.WithWebHostBuilder(b => b.ConfigureServices(s => s.AddSingleton<Microsoft.AspNetCore.Hosting.IStartupFilter, FromLoopback>()));
        var client = proxied.CreateClient();
        await RateWindows.FreshMinuteAsync(Ct);

        async Task<HttpStatusCode> PostAsync(string forwardedFor, string email)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/subscribe") { Content = JsonContent.Create(new { email }) };
            request.Headers.Add("X-Forwarded-For", forwardedFor);
            return (await client.SendAsync(request, Ct)).StatusCode;
        }

        // Three readers behind the proxy, one request each: nobody is limited.
        Assert.All(new[] { await PostAsync("203.0.113.1", "a@example.org"), await PostAsync("203.0.113.2", "b@example.org"), await PostAsync("203.0.113.3", "c@example.org") },
            c => Assert.Equal(HttpStatusCode.Accepted, c));
        // One reader three times is, and so is one IPv6 customer rotating through its /64.
        Assert.Equal(HttpStatusCode.Accepted, await PostAsync("198.51.100.7", "d@example.org"));
        Assert.Equal(HttpStatusCode.Accepted, await PostAsync("198.51.100.7", "e@example.org"));
        Assert.Equal(HttpStatusCode.TooManyRequests, await PostAsync("198.51.100.7", "f@example.org"));
        Assert.Equal(HttpStatusCode.Accepted, await PostAsync("2001:db8:1:2::1", "g@example.org"));
        Assert.Equal(HttpStatusCode.Accepted, await PostAsync("2001:db8:1:2::2", "h@example.org"));
        Assert.Equal(HttpStatusCode.TooManyRequests, await PostAsync("2001:db8:1:2:ffff::3", "i@example.org"));
    }

    /// <summary>The in-memory test server has no client address; this gives every request loopback's.</summary>
    private sealed class FromLoopback : Microsoft.AspNetCore.Hosting.IStartupFilter
    {
        public Action<Microsoft.AspNetCore.Builder.IApplicationBuilder> Configure(Action<Microsoft.AspNetCore.Builder.IApplicationBuilder> next) => app =>
        {
            app.Use((context, following) =>
            {
                context.Connection.RemoteIpAddress = IPAddress.Loopback;
                return following(context);
            });
            next(app);
        };
    }

    [Fact]
    public async Task AHugeBodyIsRefusedBeforeItIsRead()
    {
        // Body limits are Kestrel's: the in-memory test server doesn't enforce them, so this runs the real app.
        await using var app = new AppProcess(sampleNotes: false);
        await app.StartAsync();
        using var http = new HttpClient();
        var huge = new string('a', 2 * 1024 * 1024);
        var response = await http.PostAsync(app.BaseUrl + "/subscribe", new FormUrlEncodedContent(new Dictionary<string, string> { ["email"] = huge + "@example.org" }), Ct);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
    }
}
