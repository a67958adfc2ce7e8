using System.Net;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;
using Newsletter.Tests.Subscribers;
using Newsletter.Web.Data;
using Newsletter.Web.Sending;
using Newsletter.Web.Subscribers;
using Newsletter.Web.Welcome;
using static Newsletter.Tests.Welcome.WelcomeFixture;

namespace Newsletter.Tests.Welcome;

/// <summary>
/// The welcome series against a real SMTP server: what it stored is the truth, and the ledger must agree.
/// Time is driven by calling the due check with a given moment.
/// </summary>
public class WelcomeSeriesTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task AReaderWhoConfirmsGetsStepOneAtOnceWithListHeadersAndALeaveLink()
    {
        await using var smtp = await SmtpServer.StartAsync();
        using var app = new NewsletterApp(Settings(smtp));
        await AddStepAsync(app, "Start here", "The three notes to read first.", 0);
        await AddStepAsync(app, "How I write", "A week later.", 7);
        var client = app.CreateBrowserClient();

        await SubscribeTests.SubscribeAsync(client, "new@example.org");
        var confirm = await smtp.WaitForAsync(1, Wait, m => m.Message.TextBody?.Contains("/confirm/", StringComparison.Ordinal) == true);
        var response = await Forms.PostAsync(client, Outbox.PathOf(Outbox.Link(confirm.Message, "/confirm/")), new Dictionary<string, string>());
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var first = (await smtp.WaitForAsync(1, Wait, m => m.Message.Subject == "Start here")).Message;
        Assert.Contains("The three notes to read first.", first.HtmlBody, StringComparison.Ordinal);
        Assert.Contains("/unsubscribe/", first.Headers["List-Unsubscribe"], StringComparison.Ordinal);
        Assert.Equal("List-Unsubscribe=One-Click", first.Headers["List-Unsubscribe-Post"]);
        Assert.NotNull(first.Headers["List-Id"]);
        Assert.Contains("/welcome/leave/", first.HtmlBody, StringComparison.Ordinal);
        Assert.Contains("/welcome/leave/", first.TextBody, StringComparison.Ordinal);
        Assert.Contains("/preferences/", first.HtmlBody, StringComparison.Ordinal);
        // Stable per step and reader, and sealed: the id says neither which reader nor how many came before.
        var reader = (await SubscribeTests.FindAsync(app, "new@example.org"))!;
        var stepId = int.Parse(first.MessageId!.Split('.')[0]["welcome-".Length..], System.Globalization.CultureInfo.InvariantCulture);
        Assert.Matches(@"^welcome-\d+\.[0-9a-f]{32}@localhost$", first.MessageId);
        Assert.Equal(app.Services.GetRequiredService<MessageIds>().ForWelcome(stepId, reader.Id, "localhost"), first.MessageId);

        // Step 2 waits its week, whoever runs the job meanwhile.
        await RunAsync(app, DateTimeOffset.UtcNow);
        Assert.Equal(0, CopiesOf(smtp, "How I write"));
        Assert.Equal(1, CopiesOf(smtp, "Start here"));

        // Step 1 went at once, so it was the welcome: not the built-in one as well, two "welcome" emails in a minute.
        await WaitForNoPendingMailAsync(app);
        Assert.DoesNotContain(smtp.Messages(), m => m.Message.Subject?.StartsWith("Welcome to", StringComparison.Ordinal) == true);
    }

    /// <summary>
    /// "Imports and readers added by an author don't join": one added through the API (pending, so asked to
    /// confirm) who confirms is greeted by the built-in welcome, not the series. Before, a migrated list asked to
    /// confirm again got the whole series.
    /// </summary>
    [Fact]
    public async Task AReaderAnAuthorAddedAsPendingConfirmsWithoutJoiningTheSeries()
    {
        await using var smtp = await SmtpServer.StartAsync();
        using var app = new NewsletterApp(Settings(smtp));
        await AddStepAsync(app, "Start here", "The three notes to read first.", 0);
        var api = await Api.ApiClients.ClientAsync(app);
        var added = await api.PostAsync("/api/v1/subscribers", new StringContent("""{"email":"bob@example.org"}""", System.Text.Encoding.UTF8, "application/json"), Ct);
        Assert.Equal(HttpStatusCode.Created, added.StatusCode);

        var confirm = await smtp.WaitForAsync(1, Wait, m => m.Message.TextBody?.Contains("/confirm/", StringComparison.Ordinal) == true);
        var response = await Forms.PostAsync(app.CreateBrowserClient(), Outbox.PathOf(Outbox.Link(confirm.Message, "/confirm/")), new Dictionary<string, string>());
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(SubscriberStatus.Active, (await SubscribeTests.FindAsync(app, "bob@example.org"))!.Status);

        await smtp.WaitForAsync(1, Wait, m => m.Message.Subject?.StartsWith("Welcome to", StringComparison.Ordinal) == true);
        await RunAsync(app, DateTimeOffset.UtcNow);
        Assert.Equal(0, CopiesOf(smtp, "Start here"));
        Assert.Empty(await LedgerAsync(app));
    }

    [Fact]
    public async Task AFirstStepThatWaitsDaysLeavesTheBuiltInWelcomeToGreetTheReader()
    {
        await using var smtp = await SmtpServer.StartAsync();
        using var app = new NewsletterApp(Settings(smtp));
        await AddStepAsync(app, "Two days in", "How it's going.", 2);
        var client = app.CreateBrowserClient();

        await SubscribeTests.SubscribeAsync(client, "patient@example.org");
        var confirm = await smtp.WaitForAsync(1, Wait, m => m.Message.TextBody?.Contains("/confirm/", StringComparison.Ordinal) == true);
        Assert.Equal(HttpStatusCode.OK, (await Forms.PostAsync(client, Outbox.PathOf(Outbox.Link(confirm.Message, "/confirm/")), new Dictionary<string, string>())).StatusCode);

        await smtp.WaitForAsync(1, Wait, m => m.Message.Subject?.StartsWith("Welcome to", StringComparison.Ordinal) == true);
        await RunAsync(app, DateTimeOffset.UtcNow);
        Assert.Equal(0, CopiesOf(smtp, "Two days in"));
        await RunAsync(app, DateTimeOffset.UtcNow.AddDays(2).AddMinutes(1));
        Assert.Equal(1, CopiesOf(smtp, "Two days in"));
    }

    /// <summary>Waits until the confirmation's outbox rows are all sent (or never made), so an email that should not exist had its chance.</summary>
    private static async Task WaitForNoPendingMailAsync(NewsletterApp app)
    {
        var deadline = DateTime.UtcNow + Wait;
        while (true)
        {
            await using var scope = app.Services.CreateAsyncScope();
            if (!await scope.ServiceProvider.GetRequiredService<AppDbContext>().PendingMails.AnyAsync(Ct))
            {
                return;
            }

            Assert.True(DateTime.UtcNow < deadline, "Pending mail was never sent.");
            await Task.Delay(100, Ct);
        }
    }

    [Fact]
    public async Task StepTwoGoesOnlyAfterItsDelayCountedFromStepOne()
    {
        await using var smtp = await SmtpServer.StartAsync();
        using var app = new NewsletterApp(Settings(smtp));
        await AddStepAsync(app, "One", "First.", 0);
        var two = await AddStepAsync(app, "Two", "Second.", 2);
        await AddReadersAsync(app, 3);
        var now = DateTimeOffset.UtcNow;

        // The app's own job may run the due check and send meanwhile (with the real time), so the ledger and the
        // server are asked, not this run's counts.
        await RunAsync(app, now);
        await smtp.WaitForAsync(3, Wait, m => m.Message.Subject == "One");
        await RunAsync(app, now.AddDays(2).AddHours(-1));
        Assert.DoesNotContain(await LedgerAsync(app), d => d.StepId == two);
        Assert.Equal(0, CopiesOf(smtp, "Two"));
        await RunAsync(app, now.AddDays(2).AddMinutes(5));
        await smtp.WaitForAsync(3, Wait, m => m.Message.Subject == "Two");
        await RunAsync(app, now.AddDays(30));
        Assert.Equal(6, (await LedgerAsync(app)).Count);

        Assert.Equal(3, CopiesOf(smtp, "One"));
        Assert.Equal(3, CopiesOf(smtp, "Two"));
        Assert.All(await LedgerAsync(app), d => Assert.Equal(DeliveryStatus.Sent, d.Status));
    }

    [Fact]
    public async Task TwoConcurrentRunsOfTheJobGiveEachReaderOneCopy()
    {
        await using var smtp = await SmtpServer.StartAsync(new { delay_ms = 20 });
        using var app = new NewsletterApp(Settings(smtp, new() { ["Sending:BatchSize"] = "3" }));
        await AddStepAsync(app, "Hello", "Welcome.", 0);
        await AddReadersAsync(app, 24);
        var now = DateTimeOffset.UtcNow;

        await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() => RunAsync(app, now), Ct)));

        var copies = Copies(smtp);
        Assert.Equal(24, copies.Count);
        Assert.All(copies, c => Assert.True(c.Value == 1, $"{c.Key} got {c.Value} copies\n{app.ServerLog}"));
        var ledger = await LedgerAsync(app);
        Assert.Equal(24, ledger.Count);
        Assert.All(ledger, d => Assert.Equal(DeliveryStatus.Sent, d.Status));
    }

    [Fact]
    public async Task AWorkerStalledPastItsLeaseSendsNothingAndTheReadersGetOneCopyEach()
    {
        await using var smtp = await SmtpServer.StartAsync();
        using var app = new NewsletterApp(Settings(smtp, new() { ["Sending:LeaseDuration"] = "00:00:01" }));
        // AddStepAsync stops the app's own every-minute job: worker A and B are the only workers here.
        await AddStepAsync(app, "Hello", "Welcome.", 0);
        // Joined "tomorrow": the app's own job, on the real time, never schedules them; this test decides who sends.
        var tomorrow = DateTimeOffset.UtcNow.AddDays(1);
        await AddReadersAsync(app, 4, joinedAt: tomorrow);
        await WithSeriesAsync(app, s => s.ScheduleDueAsync(tomorrow, Ct));

        // Worker A claims the rows, then stalls before its first message for three times its lease.
        var stalled = new TaskCompletionSource();
        var resume = new TaskCompletionSource();
        var a = Task.Run(async () =>
        {
            await using var scope = app.Services.CreateAsyncScope();
            var first = true;
            return await scope.ServiceProvider.GetRequiredService<WelcomeSender>().SendDueAsync(Ct, async _ =>
            {
                if (first)
                {
                    first = false;
                    stalled.SetResult();
                    await resume.Task;
                }
            });
        }, Ct);
        await stalled.Task.WaitAsync(Wait, Ct);
        await Task.Delay(TimeSpan.FromSeconds(3), Ct);

        // Worker B finds A's lease run out and sends everything.
        await using (var scope = app.Services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<WelcomeSender>().SendDueAsync(Ct);
        }

        await smtp.WaitForAsync(4, Wait, _ => true);

        // A wakes up: its mark fails, so it sends nothing.
        resume.SetResult();
        Assert.Equal(0, await a.WaitAsync(Wait, Ct));

        var copies = Copies(smtp);
        Assert.Equal(4, copies.Count);
        Assert.All(copies, c => Assert.Equal(1, c.Value));
        Assert.All(await LedgerAsync(app), d => Assert.Equal(DeliveryStatus.Sent, d.Status));
    }

    [Fact]
    public async Task ARelaySlowerThanTheLeaseNeverGetsASecondCopyOfTheMessageInFlight()
    {
        // Each message takes 2.5 s and a lease lasts 1 s: the row in flight is held by the second worker,
        // not sent again; the late reply then makes it Sent.
        await using var smtp = await SmtpServer.StartAsync(new { delay_ms = 2500 });
        using var app = new NewsletterApp(Settings(smtp, new() { ["Sending:LeaseDuration"] = "00:00:01" }));
        await AddStepAsync(app, "Hello", "Welcome.", 0);
        var tomorrow = DateTimeOffset.UtcNow.AddDays(1);
        await AddReadersAsync(app, 3, joinedAt: tomorrow);
        await WithSeriesAsync(app, s => s.ScheduleDueAsync(tomorrow, Ct));

        var a = Task.Run(() => RunAsync(app, DateTimeOffset.UtcNow), Ct);
        await Task.Delay(TimeSpan.FromSeconds(1.5), Ct);
        var b = Task.Run(() => RunAsync(app, DateTimeOffset.UtcNow), Ct);
        await Task.WhenAll(a, b);
        // Whatever a lost lease left behind goes to a third run.
        await Task.Delay(TimeSpan.FromSeconds(1.2), Ct);
        await RunAsync(app, DateTimeOffset.UtcNow);

        var copies = Copies(smtp);
        Assert.All(copies, c => Assert.True(c.Value == 1, $"{c.Key} got {c.Value} copies\n{app.ServerLog}"));
        Assert.Equal(3, copies.Count);
        // The held row took its late reply: every row is known Sent, and nobody has two copies.
        var ledger = await LedgerAsync(app);
        Assert.Equal(3, ledger.Count);
        Assert.All(ledger, d => Assert.Equal(DeliveryStatus.Sent, d.Status));
    }

    [Fact]
    public async Task AReplyLostAfterTheRelayStoredTheMessageIsHeldNotSentAgain()
    {
        var unlucky = "reader001@example.org";
        await using var smtp = await SmtpServer.StartAsync(new { store_then_drop = new[] { unlucky } });
        using var app = new NewsletterApp(Settings(smtp));
        await AddStepAsync(app, "Hello", "Welcome.", 0);
        await AddReadersAsync(app, 3);
        var now = DateTimeOffset.UtcNow;
        for (var i = 0; i < 4; i++)
        {
            await RunAsync(app, now);
        }

        Assert.All(Copies(smtp), c => Assert.Equal(1, c.Value));
        Assert.Equal(3, Copies(smtp).Count);
        var emails = await EmailsAsync(app);
        var held = Assert.Single(await LedgerAsync(app), d => d.Status == DeliveryStatus.Held);
        Assert.Equal(unlucky, emails[held.SubscriberId]);
        Assert.True(held.Uncertain);

        // The page says so and offers the choice.
        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(client);
        var page = await client.GetStringAsync("/admin/welcome", Ct);
        Assert.Contains("Send held copies again", page, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PausingStopsTheSeriesAndResumingSendsWhatWaited()
    {
        await using var smtp = await SmtpServer.StartAsync();
        using var app = new NewsletterApp(Settings(smtp));
        await AddStepAsync(app, "Hello", "Welcome.", 0);
        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(client);
        await Forms.PostAsync(client, "/admin/welcome", new Dictionary<string, string>(), "/admin/welcome?handler=Pause");
        Assert.Contains("Resume the series", await client.GetStringAsync("/admin/welcome", Ct), StringComparison.Ordinal);

        await AddReadersAsync(app, 2);
        Assert.Equal((0, 0), await RunAsync(app, DateTimeOffset.UtcNow.AddDays(1)));
        Assert.Equal(0, smtp.Count);

        // Rows already due when the pause comes are not sent either.
        await WithSeriesAsync(app, async s =>
        {
            await s.SetPausedAsync(false, Ct);
            Assert.Equal(2, await s.ScheduleDueAsync(DateTimeOffset.UtcNow, Ct));
            await s.SetPausedAsync(true, Ct);
        });
        Assert.Equal((0, 0), await RunAsync(app, DateTimeOffset.UtcNow));
        Assert.Equal(0, smtp.Count);

        await Forms.PostAsync(client, "/admin/welcome", new Dictionary<string, string>(), "/admin/welcome?handler=Resume");
        await RunAsync(app, DateTimeOffset.UtcNow);
        await smtp.WaitForAsync(2, Wait, _ => true);
        Assert.Equal(2, CopiesOf(smtp, "Hello"));
    }

    [Fact]
    public async Task LeavingTheSeriesStopsItAndKeepsTheReaderSubscribed()
    {
        await using var smtp = await SmtpServer.StartAsync();
        using var app = new NewsletterApp(Settings(smtp));
        await AddStepAsync(app, "One", "First.", 0);
        await AddStepAsync(app, "Two", "Second.", 1);
        var ids = await AddReadersAsync(app, 3);
        var now = DateTimeOffset.UtcNow;
        await RunAsync(app, now);
        await smtp.WaitForAsync(3, Wait, _ => true);
        var client = app.CreateBrowserClient();

        // Reader 0: the link in the email. A GET (a link scanner) changes nothing; the button leaves.
        var mail = smtp.Messages().Single(m => m.EnvelopeTo.Contains("reader000", StringComparison.Ordinal)).Message;
        var leave = Outbox.PathOf(Outbox.Link(mail, "/welcome/leave/"));
        Assert.Contains("Stop the welcome emails", await client.GetStringAsync(leave, Ct), StringComparison.Ordinal);
        Assert.True(await InSeriesAsync(app, ids[0]));
        var left = await Forms.PostAsync(client, leave, new Dictionary<string, string>());
        Assert.Contains("still subscribed", await left.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);

        // Reader 1: the preferences page, with the box unticked.
        var preferences = Outbox.PathOf(Outbox.Link(smtp.Messages().Single(m => m.EnvelopeTo.Contains("reader001", StringComparison.Ordinal)).Message, "/preferences/"));
        Assert.Contains("pref-welcome", await client.GetStringAsync(preferences, Ct), StringComparison.Ordinal);
        await Forms.PostAsync(client, preferences, new Dictionary<string, string> { ["name"] = "" }, preferences + "?handler=Save");

        await RunAsync(app, now.AddDays(2));
        await smtp.WaitForAsync(1, Wait, m => m.Message.Subject == "Two");
        Assert.Equal(3, CopiesOf(smtp, "One"));
        Assert.Equal(1, CopiesOf(smtp, "Two"));
        Assert.Single(smtp.Messages(), m => m.Message.Subject == "Two" && m.EnvelopeTo.Contains("reader002", StringComparison.Ordinal));
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        Assert.All(await db.Subscribers.ToListAsync(Ct), s => Assert.Equal(SubscriberStatus.Active, s.Status));
        Assert.False(await InSeriesAsync(app, ids[0]));
        Assert.False(await InSeriesAsync(app, ids[1]));
    }

    [Fact]
    public async Task UnsubscribedReadersGetNothing()
    {
        await using var smtp = await SmtpServer.StartAsync();
        using var app = new NewsletterApp(Settings(smtp));
        await AddStepAsync(app, "One", "First.", 0);
        var ids = await AddReadersAsync(app, 2);
        await using (var scope = app.Services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<ReaderLifecycle>().UnsubscribeAsync(ids[0], "test", Ct);
        }

        await RunAsync(app, DateTimeOffset.UtcNow);
        await smtp.WaitForAsync(1, Wait, _ => true);
        var copy = Assert.Single(smtp.Messages());
        Assert.Contains("reader001", copy.EnvelopeTo, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnEditReachesOnlyReadersNotYetAtThatStepAndAnInsertedStepIsNotSentBackwards()
    {
        await using var smtp = await SmtpServer.StartAsync();
        using var app = new NewsletterApp(Settings(smtp));
        await AddStepAsync(app, "One", "First.", 0);
        var two = await AddStepAsync(app, "Two", "Old text.", 3);
        // Ahead: joined ten days ago and has both steps; behind: has only step 1.
        var ahead = await AddReadersAsync(app, 1, "ahead");
        var now = DateTimeOffset.UtcNow;
        await RunAsync(app, now);
        await smtp.WaitForAsync(1, Wait, m => m.Message.Subject == "One");
        await RunAsync(app, now.AddDays(4));
        await smtp.WaitForAsync(1, Wait, m => m.Message.Subject == "Two");
        var behind = await AddReadersAsync(app, 1, "behind");
        await RunAsync(app, now.AddDays(4));
        await smtp.WaitForAsync(2, Wait, m => m.Message.Subject == "One");
        Assert.Equal(1, CopiesOf(smtp, "Two"));

        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(client);
        await Forms.PostAsync(client, "/admin/welcome", new Dictionary<string, string>
        {
            ["id"] = two.ToString(System.Globalization.CultureInfo.InvariantCulture), ["kind"] = "email", ["subject"] = "Two", ["body"] = "New text.", ["delayDays"] = "3",
        }, "/admin/welcome?handler=Save");
        // A step inserted before step 2: behind the "ahead" reader, ahead of the "behind" one.
        await Forms.PostAsync(client, "/admin/welcome", new Dictionary<string, string>
        {
            ["kind"] = "email", ["subject"] = "Inserted", ["body"] = "Between.", ["delayDays"] = "1", ["before"] = two.ToString(System.Globalization.CultureInfo.InvariantCulture),
        }, "/admin/welcome?handler=Save");

        await RunAsync(app, now.AddDays(30));
        await smtp.WaitForAsync(1, Wait, m => m.Message.Subject == "Inserted");
        await RunAsync(app, now.AddDays(60));
        await smtp.WaitForAsync(2, Wait, m => m.Message.Subject == "Two");

        var twos = smtp.Messages().Where(m => m.Message.Subject == "Two").ToList();
        Assert.Equal(2, twos.Count);
        Assert.Contains("Old text.", twos.Single(m => m.EnvelopeTo.Contains("ahead", StringComparison.Ordinal)).Message.HtmlBody, StringComparison.Ordinal);
        Assert.Contains("New text.", twos.Single(m => m.EnvelopeTo.Contains("behind", StringComparison.Ordinal)).Message.HtmlBody, StringComparison.Ordinal);
        var inserted = Assert.Single(smtp.Messages(), m => m.Message.Subject == "Inserted");
        Assert.Contains("behind", inserted.EnvelopeTo, StringComparison.Ordinal);
        Assert.All(Copies(smtp), c => Assert.Equal(1, c.Value));
        _ = (ahead, behind);
    }

    [Fact]
    public async Task AHostileSubjectAndScriptInTheBodyAreNeutralised()
    {
        await using var smtp = await SmtpServer.StartAsync();
        using var app = new NewsletterApp(Settings(smtp));
        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(client);
        var saved = await Forms.PostAsync(client, "/admin/welcome", new Dictionary<string, string>
        {
            ["kind"] = "email",
            ["subject"] = "Hello\r\nBcc: victim@example.org",
            ["body"] = "<script>alert(1)</script>\n\n**bold** <img src=\"x\" onerror=\"alert(2)\"> [x](javascript:alert(3))",
            ["delayDays"] = "0",
        }, "/admin/welcome?handler=Save");
        Assert.Equal(HttpStatusCode.Redirect, saved.StatusCode);
        var page = await client.GetStringAsync("/admin/welcome", Ct);
        Assert.DoesNotContain("<script>alert", page, StringComparison.Ordinal);

        await AddReadersAsync(app, 1);
        await RunAsync(app, DateTimeOffset.UtcNow);
        await smtp.WaitForAsync(1, Wait, _ => true);
        var message = Assert.Single(smtp.Messages());
        Assert.Equal("Hello Bcc: victim@example.org", message.Message.Subject);
        Assert.Null(message.Message.Headers["Bcc"]);
        Assert.DoesNotContain("victim", message.EnvelopeTo, StringComparison.Ordinal);
        Assert.Contains("<strong>bold</strong>", message.Message.HtmlBody, StringComparison.Ordinal);
        Assert.DoesNotContain("<script", message.Message.HtmlBody, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("onerror", message.Message.HtmlBody, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("javascript:", message.Message.HtmlBody, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task AForgedLeaveTokenChangesNothing()
    {
        using var app = new NewsletterApp();
        var client = app.CreateBrowserClient();
        var page = await client.GetAsync("/welcome/leave/forged-token", Ct);
        Assert.Equal(HttpStatusCode.BadRequest, page.StatusCode);
        Assert.Contains("doesn't work", await page.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        var token = await Forms.TokenAsync(client, "/preferences");
        var response = await client.PostAsync("/welcome/leave/forged-token", new FormUrlEncodedContent(new Dictionary<string, string> { ["__RequestVerificationToken"] = token }), Ct);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    private static async Task<bool> InSeriesAsync(NewsletterApp app, long id)
    {
        await using var scope = app.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<WelcomeSeries>().IsInAsync(id, Ct);
    }

    private static async Task<Dictionary<long, string>> EmailsAsync(NewsletterApp app)
    {
        await using var scope = app.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AppDbContext>().Subscribers.ToDictionaryAsync(s => s.Id, s => s.EmailKey, Ct);
    }

    /// <summary>A step refused for a missing subject keeps the body the author wrote on the page, with the reason.</summary>
    [Fact]
    public async Task ARefusedStepKeepsWhatWasTyped()
    {
        using var app = new NewsletterApp();
        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(client);
        var refused = await Forms.PostAsync(client, "/admin/welcome", new Dictionary<string, string>
        {
            ["kind"] = "email", ["subject"] = "", ["body"] = "Three paragraphs of <careful> words.", ["delayDays"] = "2",
        }, "/admin/welcome?handler=Save");
        Assert.Equal(System.Net.HttpStatusCode.OK, refused.StatusCode);
        var page = await refused.Content.ReadAsStringAsync(Ct);
        Assert.Contains("A written email needs a subject and a body.", page, StringComparison.Ordinal);
        Assert.Contains(">Three paragraphs of &lt;careful&gt; words.</textarea>", page, StringComparison.Ordinal);
        Assert.Contains("name=\"delayDays\" type=\"number\" min=\"0\" max=\"365\" value=\"2\"", page, StringComparison.Ordinal);
        await using var scope = app.Services.CreateAsyncScope();
        Assert.False(await scope.ServiceProvider.GetRequiredService<Newsletter.Web.Data.AppDbContext>().Set<WelcomeStep>().AnyAsync(Ct));
    }
}
