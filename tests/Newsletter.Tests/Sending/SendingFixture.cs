using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;
using Newsletter.Web.Data;
using Newsletter.Web.Issues;
using Newsletter.Web.Sending;
using Newsletter.Web.Subscribers;

namespace Newsletter.Tests.Sending;

/// <summary>Seeds readers and an issue straight into an app's database, and watches the send finish.</summary>
internal static class SendingFixture
{
    public static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>What Prometheus would send: /metrics takes a bearer token, never an author's session.</summary>
    public const string MetricsToken = "sending-tests-metrics-token";

    public static Dictionary<string, string?> Settings(SmtpServer smtp, Dictionary<string, string?>? extra = null)
    {
        var settings = smtp.AppSettings;
        settings["Metrics:Token"] = MetricsToken;
        settings["Sending:BatchSize"] = "7";
        settings["Sending:Concurrency"] = "3";
        settings["Sending:RetryBaseDelay"] = "00:00:00.300";
        settings["Sending:LeaseDuration"] = "00:00:20";
        settings["Jobs:WorkerCount"] = "6";
        foreach (var (k, v) in extra ?? [])
        {
            settings[k] = v;
        }

        return settings;
    }

    public static async Task<string> ScrapeAsync(NewsletterApp app)
    {
        using var prometheus = app.CreateClient();
        prometheus.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", MetricsToken);
        return await prometheus.GetStringAsync("/metrics", Ct);
    }

    public static async Task<List<long>> AddReadersAsync(NewsletterApp app, int count, SubscriberStatus status = SubscriberStatus.Active, string prefix = "reader", string? tag = null)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var list = Enumerable.Range(0, count).Select(i =>
        {
            var email = $"{prefix}{i:D4}@example.org";
            var s = new Subscriber { Email = email, EmailKey = email, Status = status, Source = "test", Name = $"Reader {i}", ConfirmedAt = DateTime.UtcNow };
            if (tag is not null)
            {
                s.Tags.Add(new SubscriberTag { Tag = tag });
            }

            return s;
        }).ToList();
        db.Subscribers.AddRange(list);
        await db.SaveChangesAsync(Ct);
        return [.. list.Select(s => s.Id)];
    }

    public static async Task<int> AddIssueAsync(NewsletterApp app, string subject = "Ledgers, leases and the 40 ms stall", string? audienceTag = null, Newsletter.Web.Segments.Segment? segment = null, params string[] tags)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var sp = scope.ServiceProvider;
        var db = sp.GetRequiredService<AppDbContext>();
        var issue = new Issue
        {
            Subject = subject,
            Slug = Newsletter.Web.Notes.NoteFile.Slugify(subject),
            Preheader = "What a crash can and cannot do to a send.",
            Markdown = "Hello **readers**.\n\nA [link](https://example.org/a) and a table:\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
            Segment = segment ?? (audienceTag is null ? Newsletter.Web.Segments.Segment.Everyone : new Newsletter.Web.Segments.Segment { Topics = [audienceTag] }),
            Status = IssueStatus.Draft,
            Tags = [.. tags.Select(t => new IssueTag { Tag = t })],
        };
        await sp.GetRequiredService<IssueComposer>().ComposeAsync(issue, Ct);
        db.Issues.Add(issue);
        await db.SaveChangesAsync(Ct);
        return issue.Id;
    }

    /// <summary>
    /// An SMTP server, an app on it, and a draft issue snapshotted for <paramref name="readers"/> new readers, with
    /// a scope whose ledger the test drives by hand: the app's own workers leave a draft alone.
    /// </summary>
    public static async Task<LedgerByHand> LedgerByHandAsync(int readers, Dictionary<string, string?>? extra = null)
    {
        var smtp = await SmtpServer.StartAsync();
        var app = new NewsletterApp(Settings(smtp, extra));
        var scope = app.Services.CreateAsyncScope();
        var hand = new LedgerByHand(smtp, app, scope, scope.ServiceProvider.GetRequiredService<AppDbContext>(), scope.ServiceProvider.GetRequiredService<Ledger>(), 0);
        try
        {
            await AddReadersAsync(app, readers);
            var issueId = await AddIssueAsync(app);
            Assert.Equal(readers, await hand.Ledger.SnapshotAsync(await hand.Db.Issues.SingleAsync(i => i.Id == issueId, Ct), Ct));
            return hand with { IssueId = issueId };
        }
        catch
        {
            await hand.DisposeAsync();
            throw;
        }
    }

    public sealed record LedgerByHand(SmtpServer Smtp, NewsletterApp App, AsyncServiceScope Scope, AppDbContext Db, Ledger Ledger, int IssueId) : IAsyncDisposable
    {
        public IServiceProvider Services => Scope.ServiceProvider;

        public async ValueTask DisposeAsync()
        {
            await Scope.DisposeAsync();
            App.Dispose();
            await Smtp.DisposeAsync();
        }
    }

    public static async Task SendNowAsync(NewsletterApp app, int issueId)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        await db.Issues.Where(i => i.Id == issueId).ExecuteUpdateAsync(u => u.SetProperty(i => i.Status, IssueStatus.Scheduled).SetProperty(i => i.ScheduledAt, DateTime.UtcNow), Ct);
        await scope.ServiceProvider.GetRequiredService<IssueSender>().StartAsync(issueId, Ct);
    }

    public static async Task<Issue> WaitForStatusAsync(NewsletterApp app, int issueId, IssueStatus status, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(90));
        while (true)
        {
            await using var scope = app.Services.CreateAsyncScope();
            var issue = await scope.ServiceProvider.GetRequiredService<AppDbContext>().Issues.AsNoTracking().SingleAsync(i => i.Id == issueId, Ct);
            if (issue.Status == status)
            {
                return issue;
            }

            if (DateTime.UtcNow > deadline)
            {
                var counts = await scope.ServiceProvider.GetRequiredService<Ledger>().CountsAsync(issueId, Ct);
                throw new TimeoutException($"Issue {issueId} is {issue.Status} ({issue.PausedReason}), not {status}; ledger {counts}");
            }

            await Task.Delay(200, Ct);
        }
    }

    /// <summary>Every reader's address by id, to read the ledger against what the SMTP server stored.</summary>
    public static async Task<Dictionary<long, string>> EmailsAsync(NewsletterApp app)
    {
        await using var scope = app.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AppDbContext>().Subscribers.AsNoTracking().ToDictionaryAsync(s => s.Id, s => s.EmailKey, Ct);
    }

    public static async Task<List<Delivery>> DeliveriesAsync(NewsletterApp app, int issueId)
    {
        await using var scope = app.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AppDbContext>().Deliveries.AsNoTracking().Where(d => d.IssueId == issueId).ToListAsync(Ct);
    }
}
