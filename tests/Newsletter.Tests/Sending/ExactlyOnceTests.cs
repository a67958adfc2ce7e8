using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;
using Newsletter.Web.Data;
using Newsletter.Web.Issues;
using Newsletter.Web.Sending;
using static Newsletter.Tests.Sending.SendingFixture;

namespace Newsletter.Tests.Sending;

/// <summary>
/// Exactly once when the machine or the relay misbehaves without a crash: a relay slower than the lease, a
/// reply lost after the message was stored, a reader cut short twice, a relay that freezes, a rate limit.
/// What the real SMTP server stored is the truth; the ledger must agree with it.
/// </summary>
public class ExactlyOnceTests
{
    [Fact]
    public async Task ARelaySlowerThanTheLeaseStillGivesEachReaderOneCopy()
    {
        // Every message takes 2.5 s and a lease lasts 2 s: without renewal, the other workers of this very
        // node would take the batch over while its message is in the air, and send it again.
        await using var smtp = await SmtpServer.StartAsync(new { delay_ms = 2500 });
        using var app = new NewsletterApp(Settings(smtp, new()
        {
            ["Sending:LeaseDuration"] = "00:00:02",
            ["Sending:Concurrency"] = "3",
            ["Sending:BatchSize"] = "4",
        }));
        await AddReadersAsync(app, 9);
        var issueId = await AddIssueAsync(app);
        await SendNowAsync(app, issueId);
        await WaitForStatusAsync(app, issueId, IssueStatus.Sent, TimeSpan.FromMinutes(3));

        var copies = SendingProcess.CopiesByRecipient(smtp);
        Assert.Equal(9, copies.Count);
        Assert.All(copies, c => Assert.True(c.Value == 1, $"{c.Key} got {c.Value} copies\n{app.ServerLog}"));
        var ledger = await DeliveriesAsync(app, issueId);
        Assert.All(ledger, d => Assert.Equal(DeliveryStatus.Sent, d.Status));
        Assert.DoesNotContain(ledger, d => d.Uncertain);
    }

    [Fact]
    public async Task AReplyLostAfterTheRelayStoredTheMessageMarksThatReaderUncertain()
    {
        // Every 4th message is stored and then the connection drops before the 250: the reader has it, the
        // sender cannot know. Sending it again is right, but only with the ledger saying so.
        await using var smtp = await SmtpServer.StartAsync(new { store_then_drop_every = 4 });
        using var app = new NewsletterApp(Settings(smtp));
        await AddReadersAsync(app, 30);
        var issueId = await AddIssueAsync(app);
        await SendNowAsync(app, issueId);
        await WaitForStatusAsync(app, issueId, IssueStatus.Sent, TimeSpan.FromMinutes(2));

        var copies = SendingProcess.CopiesByRecipient(smtp);
        var ledger = await DeliveriesAsync(app, issueId);
        var emails = await EmailsAsync(app);
        var twice = copies.Where(c => c.Value > 1).Select(c => c.Key).Order().ToList();
        var uncertain = ledger.Where(d => d.Uncertain).Select(d => emails[d.SubscriberId]).Order().ToList();
        Assert.Equal(30, copies.Count);
        Assert.NotEmpty(twice);
        // Exactly the readers with two copies are uncertain, and nobody has three.
        Assert.Equal(twice, uncertain);
        Assert.All(copies, c => Assert.True(c.Value <= 2, $"{c.Key} got {c.Value} copies"));
        // A reader whose second copy was cut short too is held, not sent a third time.
        Assert.All(ledger.Where(d => d.Status == DeliveryStatus.Held), d => Assert.Equal(2, copies[emails[d.SubscriberId]]));

        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(client);
        using var progress = JsonDocument.Parse(await client.GetStringAsync($"/admin/api/issues/{issueId}/progress", Ct));
        // A held reader is counted as held, not as uncertain too: the counters do not add up to more than the recipients.
        var held = ledger.Count(d => d.Status == DeliveryStatus.Held);
        Assert.Equal((uncertain.Count - held, held), (progress.RootElement.GetProperty("uncertain").GetInt32(), progress.RootElement.GetProperty("held").GetInt32()));
    }

    [Fact]
    public async Task AWorkerThatDiesMidBatchLeavesOnlyItsMessageInFlightUncertain()
    {
        // The ledger as two workers see it, driven by hand: the first claims a batch, has one outcome written
        // and the next message marked in flight, then dies (its lease ends). Only that one row may have reached
        // the relay, so only it comes back Uncertain; the rows it never reached are nobody's possible duplicate.
        await using var hand = await LedgerByHandAsync(6);
        var (app, db, ledger, issueId) = (hand.App, hand.Db, hand.Ledger, hand.IssueId);
        var writer = hand.Services.GetRequiredService<OutcomeWriter>();

        var dead = $"test-dead/{Guid.NewGuid():N}";
        var batch = ledger.Claim(issueId, dead, 4);
        Assert.Equal(4, batch.Count);
        Assert.True(writer.Submit(dead, [], batch[0].Id).Wait());
        var sent = new DeliveryOutcome(batch[0].Id, batch[0].SubscriberId, DeliveryStatus.Sent, 250, null, 0, false);
        Assert.True(writer.Submit(dead, [sent], batch[1].Id).Wait());
        await db.Deliveries.Where(d => d.LeaseOwner == dead).ExecuteUpdateAsync(u => u.SetProperty(d => d.LeaseExpiresAtMs, 0L), Ct);

        // A worker that lost its lease learns it before its next message: the row is not marked, not sent.
        var next = $"test-next/{Guid.NewGuid():N}";
        var retaken = ledger.Claim(issueId, next, 10);
        Assert.False(writer.Submit(dead, [], batch[2].Id).Wait());
        Assert.Equal(5, retaken.Count);
        Assert.Equal([batch[1].Id], retaken.Where(r => r.Uncertain).Select(r => r.Id));

        // Its late outcome can't overwrite the new owner's row either.
        var late = new DeliveryOutcome(batch[1].Id, batch[1].SubscriberId, DeliveryStatus.Sent, 250, null, 0, false);
        writer.Submit(dead, [late], null).Wait();
        var rows = await DeliveriesAsync(app, issueId);
        Assert.Equal(DeliveryStatus.Sent, rows.Single(d => d.Id == batch[0].Id).Status);
        Assert.All(rows.Where(d => d.Id != batch[0].Id), d => Assert.Equal((DeliveryStatus.Sending, next, false), (d.Status, d.LeaseOwner, d.InFlight)));

        // The second worker dies too, with the uncertain row in flight again and an untouched one: the first is
        // held for the author (a third copy only by their choice), the second simply goes again.
        Assert.True(writer.Submit(next, [], batch[1].Id).Wait());
        await db.Deliveries.Where(d => d.LeaseOwner == next).ExecuteUpdateAsync(u => u.SetProperty(d => d.LeaseExpiresAtMs, 0L), Ct);
        var third = ledger.Claim(issueId, $"test-third/{Guid.NewGuid():N}", 10);
        Assert.Equal(4, third.Count);
        Assert.DoesNotContain(third, r => r.Uncertain);
        rows = await DeliveriesAsync(app, issueId);
        var held = Assert.Single(rows, d => d.Status == DeliveryStatus.Held);
        Assert.Equal(batch[1].Id, held.Id);
    }

    [Fact]
    public async Task ReleasingADeadNodesLeasesTellsHowManyOfItsRowsWereInFlight()
    {
        // The reaper's log said every released row comes back uncertain; only the one whose message had started does.
        await using var hand = await LedgerByHandAsync(6);
        var (db, ledger, issueId) = (hand.Db, hand.Ledger, hand.IssueId);
        var writer = hand.Services.GetRequiredService<OutcomeWriter>();
        var node = $"test-dead-node:{Guid.NewGuid():N}";
        var batch = ledger.Claim(issueId, node + "/worker-1", 4);
        Assert.Equal(4, batch.Count);
        Assert.True(writer.Submit(node + "/worker-1", [], batch[0].Id).Wait());
        // The reaper looks at issues that are sending, paused or cancelled; paused, the app's own workers leave it alone.
        await db.Issues.Where(i => i.Id == issueId).ExecuteUpdateAsync(u => u.SetProperty(i => i.Status, IssueStatus.Paused), Ct);

        Assert.Equal((4, 1), ledger.Expire([node + "/"]));
    }

    [Fact]
    public async Task AReaderCutShortTwiceIsHeldUntilTheAuthorSendsAgain()
    {
        var unlucky = "reader0003@example.org";
        await using var smtp = await SmtpServer.StartAsync(new { store_then_drop = new[] { unlucky } });
        using var app = new NewsletterApp(Settings(smtp));
        await AddReadersAsync(app, 8);
        var issueId = await AddIssueAsync(app);
        await SendNowAsync(app, issueId);
        await WaitForStatusAsync(app, issueId, IssueStatus.Sent, TimeSpan.FromMinutes(2));

        var copies = SendingProcess.CopiesByRecipient(smtp);
        Assert.Equal(2, copies[unlucky]);
        Assert.All(copies.Where(c => c.Key != unlucky), c => Assert.Equal(1, c.Value));
        var emails = await EmailsAsync(app);
        var held = Assert.Single(await DeliveriesAsync(app, issueId), d => d.Status == DeliveryStatus.Held);
        Assert.Equal(unlucky, emails[held.SubscriberId]);
        Assert.True(held.Uncertain);

        // The progress page says so and offers the choice; the author sends it once more, and it arrives.
        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(client);
        var page = await client.GetStringAsync($"/admin/issues/{issueId}/progress", Ct);
        Assert.Contains("held for you", page, StringComparison.Ordinal);
        Assert.Contains("Resend to failed, deferred and held", page, StringComparison.Ordinal);
        // The dashboard, the page the author opens first, says it too: nothing else will send to that reader.
        var dashboard = await client.GetStringAsync("/admin", Ct);
        Assert.Contains("1 reader of “", dashboard, StringComparison.Ordinal);
        Assert.Contains($"data-held=\"{issueId}\"", dashboard, StringComparison.Ordinal);
        Assert.Contains($"/admin/issues/{issueId}/progress", dashboard, StringComparison.Ordinal);
        Assert.Contains("<span class=\"stat-label\">issue sent</span>", dashboard, StringComparison.Ordinal); // one issue, not "1 issues"
        // The held reader's row is Uncertain as well, but the counts name it once, as held: "uncertain" says
        // those readers were sent again, which a held one was not.
        using (var progress = JsonDocument.Parse(await client.GetStringAsync($"/admin/api/issues/{issueId}/progress", Ct)))
        {
            var uncertainNotHeld = (await DeliveriesAsync(app, issueId)).Count(d => d.Uncertain && d.Status != DeliveryStatus.Held);
            Assert.Equal((1, uncertainNotHeld), (progress.RootElement.GetProperty("held").GetInt32(), progress.RootElement.GetProperty("uncertain").GetInt32()));
        }

        smtp.SetRules(new { });
        await using (var scope = app.Services.CreateAsyncScope())
        {
            Assert.Equal(1, await scope.ServiceProvider.GetRequiredService<IssueSender>().RetryFailedAsync(issueId, Ct));
        }

        await WaitForStatusAsync(app, issueId, IssueStatus.Sent, TimeSpan.FromMinutes(1));
        Assert.Equal(3, SendingProcess.CopiesByRecipient(smtp)[unlucky]);
        Assert.Equal(DeliveryStatus.Sent, (await DeliveriesAsync(app, issueId)).Single(d => d.Id == held.Id).Status);
        Assert.DoesNotContain("data-held=", await client.GetStringAsync("/admin", Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AFrozenRelayShowsOnTheProgressPageAndPausesTheSendByTheStallRule()
    {
        // The relay freezes itself at its 10th message, so the send can't have finished first on a loaded machine.
        await using var smtp = await SmtpServer.StartAsync(new { delay_ms = 50, freeze_at = 10 });
        using var app = new NewsletterApp(Settings(smtp, new()
        {
            ["Mail:Smtp:Timeout"] = "00:00:02",
            ["Sending:StallTimeout"] = "00:00:08",
            ["Sending:BatchSize"] = "5",
            ["Sending:MaxPerSecond"] = "20",
        }));
        await AddReadersAsync(app, 200);
        var issueId = await AddIssueAsync(app);
        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(client);
        await SendNowAsync(app, issueId);
        await smtp.WaitForAsync(10, TimeSpan.FromSeconds(60));
        try
        {
            // Within seconds, not at the end of a long timeout: the page names the relay as the problem.
            var deadline = DateTime.UtcNow.AddSeconds(60);
            string? relay = null;
            while (relay is null && DateTime.UtcNow < deadline)
            {
                using var progress = JsonDocument.Parse(await client.GetStringAsync($"/admin/api/issues/{issueId}/progress", Ct));
                relay = progress.RootElement.GetProperty("relay").GetString();
                await Task.Delay(250, Ct);
            }

            Assert.True(relay is not null, $"no relay problem shown; {smtp.Count} messages stored; issue {(await DeliveriesAsync(app, issueId)).GroupBy(d => d.Status).Select(g => $"{g.Key}={g.Count()}").Aggregate("", (a, b) => a + " " + b)}\n{app.ServerLog}");
            Assert.StartsWith("The SMTP relay is not answering since", relay, StringComparison.Ordinal);
            Assert.Contains("not answering", await client.GetStringAsync("/admin", Ct), StringComparison.Ordinal);

            var paused = await WaitForStatusAsync(app, issueId, IssueStatus.Paused, TimeSpan.FromSeconds(90));
            Assert.StartsWith("Paused automatically: the SMTP relay has not answered since", paused.PausedReason, StringComparison.Ordinal);
            // The gauge as this app's meter reports it. Not read from a /metrics scrape: OpenTelemetry's listener
            // hears the meters of every test host alive in this process, so an idle host's 0 could be the one shown.
            Assert.Contains("newsletter_relay_failing_seconds", await ScrapeAsync(app), StringComparison.Ordinal);
            var failingFor = RelayFailingSeconds(app);
            Assert.True(failingFor >= 1, $"relay failing for {failingFor} s by this app's gauge");
        }
        finally
        {
            smtp.Thaw();
        }

        // Back, with the send still paused: the node asks the relay itself, and the alarm ends without a message
        // sent (it used to last until the next message, which a paused send never makes).
        var clearBy = DateTime.UtcNow.AddSeconds(60);
        string? stillShown = "";
        while (stillShown is not null && DateTime.UtcNow < clearBy)
        {
            await Task.Delay(500, Ct);
            using var progress = JsonDocument.Parse(await client.GetStringAsync($"/admin/api/issues/{issueId}/progress", Ct));
            stillShown = progress.RootElement.GetProperty("relay").GetString();
        }

        Assert.True(stillShown is null, $"the relay is back and the page still says: {stillShown}\n{app.ServerLog}");
        Assert.DoesNotContain("not answering", await client.GetStringAsync("/admin", Ct), StringComparison.Ordinal);
        Assert.Equal(IssueStatus.Paused, (await WaitForStatusAsync(app, issueId, IssueStatus.Paused, TimeSpan.FromSeconds(5))).Status);

        // Back up and resumed: everyone gets it; a message the frozen relay had taken in is the only possible
        // second copy, and the ledger says which.
        await using (var scope = app.Services.CreateAsyncScope())
        {
            Assert.True(await scope.ServiceProvider.GetRequiredService<IssueSender>().ResumeAsync(issueId, Ct));
        }

        await WaitForStatusAsync(app, issueId, IssueStatus.Sent, TimeSpan.FromMinutes(2));
        var copies = SendingProcess.CopiesByRecipient(smtp);
        var emails = await EmailsAsync(app);
        var uncertain = (await DeliveriesAsync(app, issueId)).Where(d => d.Uncertain).Select(d => emails[d.SubscriberId]).ToHashSet();
        Assert.Equal(200, copies.Count);
        Assert.All(copies.Where(c => c.Value > 1), c => Assert.Contains(c.Key, uncertain));
    }

    /// <summary>What this app's own `newsletter.relay.failing` gauge reports now (its meter, by its factory).</summary>
    private static double RelayFailingSeconds(NewsletterApp app)
    {
        var factory = app.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>();
        double? value = null;
        using var listener = new System.Diagnostics.Metrics.MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Scope == factory && instrument.Name == "newsletter.relay.failing")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<double>((_, measurement, _, _) => value = measurement);
        listener.Start();
        listener.RecordObservableInstruments();
        return value ?? throw new InvalidOperationException("the app has no newsletter.relay.failing gauge");
    }

    [Fact]
    public async Task ARateBucketAheadOfThisNodesClockNeverMakesANegativeClaim()
    {
        // Another node with a clock a little ahead wrote the bucket last: the refill comes out negative.
        await using var hand = await LedgerByHandAsync(20, new() { ["Sending:MaxPerSecond"] = "10" });
        var (db, ledger, issueId) = (hand.Db, hand.Ledger, hand.IssueId);
        db.SendRateBuckets.Add(new SendRateBucket { Key = "second", Tokens = 0, UpdatedAtMs = ledger.NowMs + 5_000 });
        await db.SaveChangesAsync(Ct);

        Assert.Empty(ledger.Claim(issueId, "test/0/a", 5));
        var bucket = await db.SendRateBuckets.AsNoTracking().SingleAsync(b => b.Key == "second", Ct);
        Assert.True(bucket.Tokens >= 0, $"{bucket.Tokens} tokens");
    }

    [Fact]
    public async Task ALimitedRateSendsEveryoneOnceWithoutAWorkerFailing()
    {
        await using var smtp = await SmtpServer.StartAsync();
        using var app = new NewsletterApp(Settings(smtp, new() { ["Sending:MaxPerSecond"] = "25", ["Sending:Concurrency"] = "4", ["Sending:BatchSize"] = "50" }));
        await AddReadersAsync(app, 100);
        var issueId = await AddIssueAsync(app);
        await SendNowAsync(app, issueId);
        await WaitForStatusAsync(app, issueId, IssueStatus.Sent, TimeSpan.FromMinutes(2));

        Assert.All(SendingProcess.CopiesByRecipient(smtp), c => Assert.Equal(1, c.Value));
        Assert.Equal(100, smtp.Count);
        Assert.DoesNotContain("failed; it restarts", app.ServerLog.ToString(), StringComparison.Ordinal);
    }

    /// <summary>
    /// A copy that can't be made for one reader (a name stored with a line separator before names were cleaned,
    /// which the mail library refuses in a header) never reached the wire: it is a failure with its reason, and
    /// the others go. It was retried as "may have arrived" until held, with the ledger saying it could be a
    /// second copy, while nobody had got one.
    /// </summary>
    [Fact]
    public async Task AReaderWhoseCopyCannotBeMadeFailsWithTheReasonAndIsNeverUncertain()
    {
        await using var smtp = await SmtpServer.StartAsync();
        using var app = new NewsletterApp(Settings(smtp));
        var ids = await AddReadersAsync(app, 5);
        await using (var scope = app.Services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<AppDbContext>().Subscribers.Where(s => s.Id == ids[2])
                .ExecuteUpdateAsync(u => u.SetProperty(s => s.Name, "Ann\u2028Lee"), SendingFixture.Ct);
        }

        var issueId = await AddIssueAsync(app);
        await SendNowAsync(app, issueId);
        await WaitForStatusAsync(app, issueId, IssueStatus.Sent, TimeSpan.FromMinutes(2));

        var ledger = await DeliveriesAsync(app, issueId);
        Assert.DoesNotContain(ledger, d => d.Uncertain);
        var failed = Assert.Single(ledger, d => d.Status == DeliveryStatus.Failed);
        Assert.Equal(ids[2], failed.SubscriberId);
        Assert.Contains("copy could not be made", failed.LastError, StringComparison.Ordinal);
        Assert.Equal(4, ledger.Count(d => d.Status == DeliveryStatus.Sent));
        Assert.Equal(4, SendingProcess.CopiesByRecipient(smtp).Count);
    }
}
