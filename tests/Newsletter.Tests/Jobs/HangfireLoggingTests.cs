using Hangfire;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;

namespace Newsletter.Tests.Jobs;

public class HangfireLoggingTests
{
    /// <summary>
    /// Hangfire's logger is process-wide and used to point at the last host built. Once that host was
    /// disposed, the first enqueue of a job method with a filter attribute (its logger is made then) threw
    /// ObjectDisposedException in every other host: the flaky 500 on a CSV upload in CI.
    /// </summary>
    [Fact]
    public async Task AnotherAppStoppingDoesNotBreakEnqueueingHere()
    {
        using var app = new NewsletterApp();
        _ = app.Services; // started first
        var other = new NewsletterApp();
        _ = other.Services; // started last: Hangfire's global configuration was built from this one
        await other.DisposeAsync();

        var jobs = app.Services.GetRequiredService<IBackgroundJobClient>();
        var id = jobs.Enqueue<ProbeJob>(j => j.Run());

        Assert.False(string.IsNullOrEmpty(id));
        Assert.False(app.ServerLog.HasErrors, app.ServerLog.ToString());
    }

    public sealed class ProbeJob
    {
        // A filter attribute of its own, so Hangfire reflects (and makes a logger for) it at this enqueue.
        [AutomaticRetry(Attempts = 0)]
        public void Run()
        {
        }
    }
}
