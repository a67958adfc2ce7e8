using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Web.Data;
using Newsletter.Web.Infrastructure;
using Newsletter.Web.Issues;

namespace Newsletter.Web.Sending;

/// <summary>Wakes this node's send workers now instead of at their next look (a send started, resumed or retried here).</summary>
public sealed class SendSignal
{
    private readonly AutoResetEvent _wake = new(false);

    public void Nudge() => _wake.Set();

    public bool Wait(TimeSpan timeout, CancellationToken ct) => WaitHandle.WaitAny([_wake, ct.WaitHandle], timeout) != WaitHandle.WaitTimeout;
}

/// <summary>
/// Runs <see cref="SendingOptions.Concurrency"/> send workers for every Sending issue on this node, each on a
/// thread of its own, and starts them again within a second when one ends while work is left: a node that
/// starts (after a crash too) joins every send at once, and a node that dies takes only itself away.
/// </summary>
/// <remarks>
/// Not Hangfire jobs: a job's slot lock and its fetched state outlived a killed node by up to a minute, and
/// Hangfire hands a job to whichever node asks, so "four workers per node" could not be said. The issue's
/// state still moves through Hangfire (the start, the reconciler); the workers follow the tables.
/// </remarks>
public sealed class SendWorkers(IServiceScopeFactory scopes, SendSignal signal, IOptions<SendingOptions> options, TimeProvider clock, ILogger<SendWorkers> logger, IHostApplicationLifetime lifetime) : BackgroundService
{
    private readonly ConcurrentDictionary<(int Issue, int Slot), Thread> _running = new();
    private readonly ConcurrentDictionary<int, long> _sleepUntilMs = new();

    /// <summary>Workers running on this node now (for tests and the log).</summary>
    public int Running => _running.Count;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Only once the whole app has started: a node that failed to start had claimed rows and sent them, and
        // every failed start (systemd tries again every five seconds) left those readers with two copies.
        if (await lifetime.WhenStartedAsync(stoppingToken))
        {
            await RunAsync(stoppingToken);
        }
    }

    private Task RunAsync(CancellationToken stoppingToken)
    {
        var thread = new Thread(() => Supervise(stoppingToken)) { IsBackground = true, Name = "send-workers" };
        thread.Start();
        return Task.Run(() =>
        {
            stoppingToken.WaitHandle.WaitOne();
            thread.Join();
            // Workers hand their batches back when stopped; give them the time a message takes.
            foreach (var worker in _running.Values.ToList())
            {
                worker.Join(TimeSpan.FromSeconds(10));
            }
        }, CancellationToken.None);
    }

    private void Supervise(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            var nudged = false;
            try
            {
                StartMissing(stoppingToken);
            }
            catch (Exception e) when (e is System.Data.Common.DbException or InvalidOperationException or TimeoutException)
            {
                logger.LogError(e, "Send workers could not read which issues are sending; trying again");
            }

            nudged = signal.Wait(TimeSpan.FromSeconds(1), stoppingToken);
            if (nudged)
            {
                _sleepUntilMs.Clear();
            }
        }
    }

    private void StartMissing(CancellationToken stoppingToken)
    {
        List<int> sending;
        using (var scope = scopes.CreateScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            sending = db.Issues.AsNoTracking().Where(i => i.Status == IssueStatus.Sending).Select(i => i.Id).ToList();
        }

        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        foreach (var issueId in sending)
        {
            if (_sleepUntilMs.TryGetValue(issueId, out var until) && until > now)
            {
                continue;
            }

            for (var slot = 0; slot < options.Value.Concurrency; slot++)
            {
                var key = (issueId, slot);
                if (_running.ContainsKey(key))
                {
                    continue;
                }

                var thread = new Thread(() => Work(key, stoppingToken)) { IsBackground = true, Name = $"send-{issueId}-{slot}" };
                if (_running.TryAdd(key, thread))
                {
                    thread.Start();
                }
            }
        }
    }

    private void Work((int Issue, int Slot) key, CancellationToken stoppingToken)
    {
        try
        {
            using var scope = scopes.CreateScope();
            var next = scope.ServiceProvider.GetRequiredService<SendWorker>().Run(key.Issue, key.Slot, stoppingToken);
            if (next is { } at)
            {
                _sleepUntilMs[key.Issue] = at;
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Said loudly, and the worker starts again at the next look: its claimed rows go back through
            // their lease, nothing is lost.
            logger.LogError(e, "Send worker {Slot} of issue {Issue} failed; it restarts within a second", key.Slot, key.Issue);
        }
        finally
        {
            _running.TryRemove(key, out _);
        }
    }
}
