using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;
using Newsletter.Web.Content;
using Newsletter.Web.Data;
using Newsletter.Web.Subscribers;
using Newsletter.Web.Welcome;

namespace Newsletter.Tests.Welcome;

/// <summary>Steps and readers straight into an app's database, and the due check and sender run by hand.</summary>
internal static class WelcomeFixture
{
    public static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static Dictionary<string, string?> Settings(SmtpServer smtp, Dictionary<string, string?>? extra = null)
    {
        var settings = smtp.AppSettings;
        settings["Sending:LeaseDuration"] = "00:00:20";
        settings["Sending:RetryBaseDelay"] = "00:00:00.300";
        foreach (var (k, v) in extra ?? [])
        {
            settings[k] = v;
        }

        return settings;
    }

    public static async Task<int> AddStepAsync(NewsletterApp app, string subject, string markdown, int delayDays, int? position = null)
    {
        // The tests drive the due check and the sender themselves (RunAsync). The app's own every-minute job would
        // be one more worker, taking rows the test then counts before it has sent them (seen on a loaded CI
        // machine): it is removed, and the run queued at start-up is let finish. A confirmation still queues its run.
        app.Services.GetRequiredService<global::Hangfire.IRecurringJobManager>().RemoveIfExists(WelcomeJob.RecurringJobId);
        await Newsletter.Tests.Subscribers.SubscribeTests.WaitForIdleJobsAsync(app);
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var html = scope.ServiceProvider.GetRequiredService<MarkdownRenderer>().Render(markdown).Html;
        var step = new WelcomeStep
        {
            Subject = subject,
            Markdown = markdown,
            Html = html,
            DelayDays = delayDays,
            Position = position ?? (await db.Set<WelcomeStep>().MaxAsync(s => (int?)s.Position, Ct) ?? 0) + 1,
            UpdatedAt = DateTime.UtcNow,
        };
        db.Set<WelcomeStep>().Add(step);
        await db.SaveChangesAsync(Ct);
        return step.Id;
    }

    /// <summary>Active readers who joined the series <paramref name="joinedAt"/> (now by default).</summary>
    public static async Task<List<long>> AddReadersAsync(NewsletterApp app, int count, string prefix = "reader", DateTimeOffset? joinedAt = null)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var list = Enumerable.Range(0, count).Select(i =>
        {
            var email = $"{prefix}{i:D3}@example.org";
            return new Subscriber { Email = email, EmailKey = email, Status = SubscriberStatus.Active, Source = "test", ConfirmedAt = DateTime.UtcNow };
        }).ToList();
        db.Subscribers.AddRange(list);
        await db.SaveChangesAsync(Ct);
        var joined = (joinedAt ?? DateTimeOffset.UtcNow).ToUnixTimeMilliseconds();
        db.Set<WelcomeReader>().AddRange(list.Select(s => new WelcomeReader { SubscriberId = s.Id, JoinedAtMs = joined }));
        await db.SaveChangesAsync(Ct);
        return [.. list.Select(s => s.Id)];
    }

    /// <summary>The due check at <paramref name="at"/>, then the sender, as the job runs them.</summary>
    public static async Task<(int Due, int Sent)> RunAsync(NewsletterApp app, DateTimeOffset at)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var due = await scope.ServiceProvider.GetRequiredService<WelcomeSeries>().ScheduleDueAsync(at, Ct);
        var sent = await scope.ServiceProvider.GetRequiredService<WelcomeSender>().SendDueAsync(Ct);
        return (due, sent);
    }

    public static async Task<List<WelcomeDelivery>> LedgerAsync(NewsletterApp app)
    {
        await using var scope = app.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<WelcomeDelivery>().AsNoTracking().OrderBy(d => d.Id).ToListAsync(Ct);
    }

    /// <summary>What the real SMTP server stored, per recipient and subject.</summary>
    public static Dictionary<(string To, string Subject), int> Copies(SmtpServer smtp) =>
        smtp.Messages().GroupBy(m => (m.EnvelopeTo.Trim('<', '>'), m.Message.Subject ?? "")).ToDictionary(g => g.Key, g => g.Count());

    public static int CopiesOf(SmtpServer smtp, string subject) => smtp.Messages().Count(m => m.Message.Subject == subject);

    public static async Task WithSeriesAsync(NewsletterApp app, Func<WelcomeSeries, Task> action)
    {
        await using var scope = app.Services.CreateAsyncScope();
        await action(scope.ServiceProvider.GetRequiredService<WelcomeSeries>());
    }
}
