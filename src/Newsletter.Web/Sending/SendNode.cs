using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Microsoft.Extensions.Options;
using Newsletter.Web.Data;
using Newsletter.Web.Infrastructure;

namespace Newsletter.Web.Sending;

/// <summary>
/// A process that sends, as the database knows it: a row per live node, its heartbeat, and what it last saw
/// of the SMTP relay. Any node reads these to tell a dead peer (no heartbeat) from a slow one, and the
/// progress page reads the relay's state from here, whichever node serves it.
/// </summary>
public sealed class SendNodeRow
{
    public string Id { get; set; } = "";

    public string Machine { get; set; } = "";

    public int ProcessId { get; set; }

    public long StartedAtMs { get; set; }

    public long HeartbeatAtMs { get; set; }

    /// <summary>When this node's sends to the relay began failing (no accepted message since), or null while it answers.</summary>
    public long? RelayFailingSinceMs { get; set; }

    public string? RelayError { get; set; }
}

internal sealed class SendNodeRowConfiguration : IEntityTypeConfiguration<SendNodeRow>
{
    public void Configure(EntityTypeBuilder<SendNodeRow> b)
    {
        b.ToTable("SendNodes");
        b.HasKey(n => n.Id);
        b.Property(n => n.Id).HasMaxLength(80);
        b.Property(n => n.Machine).HasMaxLength(64);
        b.Property(n => n.RelayError).HasMaxLength(500);
    }
}

/// <summary>
/// This process as a sending node: its identity, the leases its workers hold, and the relay's health as its
/// workers see it. <see cref="SendNodeHeartbeat"/> writes all of it to the database on a short beat.
/// </summary>
/// <remarks>
/// A worker may trust its lease only while the heartbeat that renews it keeps succeeding, and never longer
/// than <see cref="SendingOptions.NodeTimeout"/> past the last success: after that a peer may declare this
/// node dead and hand its rows to someone else. Each worker checks that before every message.
/// </remarks>
public sealed class SendNode(IOptions<SendingOptions> options, TimeProvider clock)
{
    private readonly ConcurrentDictionary<string, Lease> _leases = new();

    private long _heartbeatAtMs;

    private DateTimeOffset? _relayFailingSince;
    private DateTimeOffset _relayFailureSeenAt;
    private string? _relayError;
    private readonly Lock _relayGate = new();

    /// <summary>Machine, process and a random part: unique per process, and a restarted process is a new node.</summary>
    public string Id { get; } = $"{Truncate(Environment.MachineName, 40)}:{Environment.ProcessId}:{Guid.NewGuid().ToString("N")[..12]}";

    public static string Machine => Truncate(Environment.MachineName, 64);

    /// <summary>The relay's state as this node's workers last saw it.</summary>
    public (DateTimeOffset? FailingSince, string? Error) Relay
    {
        get
        {
            lock (_relayGate)
            {
                return (_relayFailingSince, _relayError);
            }
        }
    }

    /// <summary>When this node's heartbeat last reached the database, or null before the first: the readiness check reads it.</summary>
    public DateTimeOffset? LastHeartbeat => Interlocked.Read(ref _heartbeatAtMs) is var ms and > 0 ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null;

    internal void HeartbeatWritten(long atMs) => Interlocked.Exchange(ref _heartbeatAtMs, atMs);

    /// <summary>A fresh lease owner for one worker run: the node id first, so a dead node's leases are found by prefix.</summary>
    public string NewOwner(int slot) => $"{Id}/{slot}/{Guid.NewGuid().ToString("N")[..8]}";

    /// <summary>Registers a claim: the lease is good from the moment the claim began.</summary>
    public Lease Hold(string owner, int issueId, long claimStartedTimestamp)
    {
        var lease = _leases.GetOrAdd(owner, _ => new Lease(issueId));
        lease.Extend(claimStartedTimestamp, Validity);
        return lease;
    }

    public void Drop(string owner) => _leases.TryRemove(owner, out _);

    /// <summary>The leases held now: owner and issue.</summary>
    public IReadOnlyList<(string Owner, int IssueId)> Leases => _leases.Select(l => (l.Key, l.Value.IssueId)).ToList();

    /// <summary>How long a lease renewed at some moment may be trusted: the lease itself, but never past the point a peer may think us dead.</summary>
    public TimeSpan Validity => options.Value.LeaseDuration < options.Value.NodeTimeout ? options.Value.LeaseDuration : options.Value.NodeTimeout;

    /// <summary>What must be left of a lease to start a message: the time a message may take before a peer could take the row.</summary>
    public TimeSpan Margin => Validity / 3;

    /// <summary>Called by the heartbeat after a renewal that began at <paramref name="startedTimestamp"/> extended this owner's rows.</summary>
    public void Renewed(string owner, long startedTimestamp)
    {
        if (_leases.TryGetValue(owner, out var lease))
        {
            lease.Extend(startedTimestamp, Validity);
        }
    }

    /// <summary>
    /// Records an answered message whose attempt began at <paramref name="attemptStarted"/>. Only an attempt that
    /// began after the last failure was recorded clears the failure: an earlier one may have had its reply before
    /// the relay stopped answering and only reached this worker late (a stalled thread). Comparing with the
    /// failing attempt's start was not enough: an attempt that began a moment after it, answered just before a
    /// freeze and reported seconds later, cleared a frozen relay's banner and metric in a loaded CI run.
    /// </summary>
    public void RelaySucceeded(DateTimeOffset attemptStarted)
    {
        lock (_relayGate)
        {
            if (_relayFailingSince is not null && attemptStarted <= _relayFailureSeenAt)
            {
                return;
            }

            _relayFailingSince = null;
            _relayError = null;
        }
    }

    /// <summary>Records a failed attempt that began at <paramref name="attemptStarted"/>; returns how long the relay has been failing.</summary>
    public TimeSpan RelayFailed(DateTimeOffset attemptStarted, string error)
    {
        lock (_relayGate)
        {
            var now = clock.GetUtcNow();
            _relayFailingSince ??= attemptStarted;
            _relayFailureSeenAt = now;
            _relayError = error.Length > 500 ? error[..500] : error;
            return now - _relayFailingSince.Value;
        }
    }

    private static string Truncate(string s, int max) => s.Length <= max ? s : s[..max];

    /// <summary>A worker's lease as this process trusts it: valid until a monotonic timestamp.</summary>
    public sealed class Lease(int issueId)
    {
        private long _validUntil;

        public int IssueId { get; } = issueId;

        /// <summary>Time left on the lease as this process counts it (monotonic: a wall-clock jump changes nothing).</summary>
        public TimeSpan Left => Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), Volatile.Read(ref _validUntil));

        internal void Extend(long startedTimestamp, TimeSpan validity)
        {
            var until = startedTimestamp + (long)(validity.TotalSeconds * Stopwatch.Frequency);
            long current;
            do
            {
                current = Volatile.Read(ref _validUntil);
                if (until <= current)
                {
                    return;
                }
            }
            while (Interlocked.CompareExchange(ref _validUntil, until, current) != current);
        }
    }
}

/// <summary>
/// The node's beat: every <see cref="SendingOptions.HeartbeatInterval"/> it writes its heartbeat and relay
/// state, renews every lease its workers hold, and expires the leases of nodes that are dead: at once for a
/// process on this machine that no longer exists (a restart after kill -9 picks up its own rows), after
/// <see cref="SendingOptions.NodeTimeout"/> without a heartbeat for any other.
/// </summary>
public sealed class SendNodeHeartbeat(IServiceScopeFactory scopes, SendNode node, SendSignal signal, IOptions<SendingOptions> options, TimeProvider clock, ILogger<SendNodeHeartbeat> logger, IHostApplicationLifetime lifetime, Newsletter.Mail.IMailTransport transport) : BackgroundService
{
    /// <summary>The nodes whose heartbeat runs in this process now.</summary>
    private static readonly ConcurrentDictionary<string, byte> LiveInThisProcess = new();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // A node joins once the app has started, as its workers do: one that fails to start never joined, and
        // has nothing to sign off from a container already gone.
        if (!await lifetime.WhenStartedAsync(stoppingToken))
        {
            return;
        }

        // A thread of its own: on a machine whose thread pool is starved by a busy send, the beat that keeps
        // every lease alive must not wait in the pool's queue.
        var thread = new Thread(() => Run(stoppingToken)) { IsBackground = true, Name = "send-node-heartbeat" };
        LiveInThisProcess.TryAdd(node.Id, 0);
        thread.Start();
        var done = new TaskCompletionSource();
        stoppingToken.Register(() => done.TrySetResult());
        await done.Task;
        thread.Join(TimeSpan.FromSeconds(5));
        Leave();
        LiveInThisProcess.TryRemove(node.Id, out _);
    }

    private void Run(CancellationToken stoppingToken)
    {
        var failures = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                Beat();
                ProbeRelayWhileIdle();
                if (failures > 0)
                {
                    logger.LogInformation("Send node {Node}: heartbeat works again after {Failures} failures", node.Id, failures);
                }

                failures = 0;
            }
            catch (Exception e) when (e is DbUpdateException or System.Data.Common.DbException or InvalidOperationException or TimeoutException)
            {
                // The database is away: the leases stop growing and every worker stops before its lease
                // could be taken; said once per outage, then again when it ends.
                if (failures++ == 0)
                {
                    logger.LogError(e, "Send node {Node}: heartbeat failed; workers stop sending once their leases run short", node.Id);
                }
            }

            stoppingToken.WaitHandle.WaitOne(options.Value.HeartbeatInterval);
        }
    }

    /// <summary>How often a node whose relay failed, and which sends nothing, asks the relay whether it is back.</summary>
    public static readonly TimeSpan RelayProbeInterval = TimeSpan.FromSeconds(10);

    private int _probing;
    private long _lastProbeMs;

    /// <summary>
    /// The relay's failure was cleared only by a message that went through: a send paused by the stall rule, or
    /// cancelled, makes none, and the dashboard, the health check and the metric said "not answering" for as long
    /// as the node lived after the relay was back. Workers that are sending report for themselves; an idle node
    /// asks the relay itself, off the heartbeat's thread (a frozen relay must not hold the leases' renewals).
    /// </summary>
    private void ProbeRelayWhileIdle()
    {
        var nowMs = clock.GetUtcNow().ToUnixTimeMilliseconds();
        if (node.Relay.FailingSince is null || node.Leases.Count > 0 || nowMs - Interlocked.Read(ref _lastProbeMs) < RelayProbeInterval.TotalMilliseconds
            || Interlocked.Exchange(ref _probing, 1) == 1)
        {
            return;
        }

        Interlocked.Exchange(ref _lastProbeMs, nowMs);
        _ = Task.Run(async () =>
        {
            var started = clock.GetUtcNow();
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                await transport.ProbeAsync(timeout.Token);
                node.RelaySucceeded(started);
                logger.LogInformation("Send node {Node}: the relay answers again", node.Id);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                logger.LogDebug("Send node {Node}: the relay still does not answer: {Error}", node.Id, e.Message);
            }
            finally
            {
                Volatile.Write(ref _probing, 0);
            }
        });
    }

    /// <summary>One beat; public for tests that drive it by hand.</summary>
    public void Beat()
    {
        var started = Stopwatch.GetTimestamp();
        using var scope = scopes.CreateScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var ledger = scope.ServiceProvider.GetRequiredService<Ledger>();
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var (failingSince, error) = node.Relay;
        var failingMs = failingSince?.ToUnixTimeMilliseconds();
        var updated = db.SendNodes.Where(n => n.Id == node.Id).ExecuteUpdate(u => u
            .SetProperty(n => n.HeartbeatAtMs, now)
            .SetProperty(n => n.RelayFailingSinceMs, failingMs)
            .SetProperty(n => n.RelayError, error));
        if (updated == 0)
        {
            db.SendNodes.Add(new SendNodeRow
            {
                Id = node.Id, Machine = SendNode.Machine, ProcessId = Environment.ProcessId, StartedAtMs = now, HeartbeatAtMs = now,
                RelayFailingSinceMs = failingMs, RelayError = error,
            });
            db.SaveChanges();
            logger.LogInformation("Send node {Node} joined", node.Id);
        }

        node.HeartbeatWritten(now);

        var until = now + (long)options.Value.LeaseDuration.TotalMilliseconds;
        foreach (var (owner, issueId) in node.Leases)
        {
            // Only rows still ours are extended; a lease taken over is not, and its worker runs out of time.
            if (ledger.Renew(issueId, owner, until) > 0)
            {
                node.Renewed(owner, started);
            }
        }

        ReapDeadNodes(db, ledger, now);
    }

    private void ReapDeadNodes(AppDbContext db, Ledger ledger, long now)
    {
        var deadline = now - (long)options.Value.NodeTimeout.TotalMilliseconds;
        var others = db.SendNodes.AsNoTracking().Where(n => n.Id != node.Id).ToList();
        var dead = others.Where(n => n.HeartbeatAtMs < deadline || (n.Machine == SendNode.Machine && !IsRunning(n))).ToList();
        if (dead.Count == 0)
        {
            return;
        }

        var (expired, inFlight) = ledger.Expire(dead.Select(n => n.Id + "/").ToList());
        var ids = dead.Select(n => n.Id).ToList();
        db.SendNodes.Where(n => ids.Contains(n.Id)).ExecuteDelete();
        foreach (var n in dead)
        {
            logger.LogWarning("Send node {Node} is gone (last heartbeat {Seconds:F0} s ago{Process}); its leases are released",
                n.Id, (now - n.HeartbeatAtMs) / 1000.0, n.Machine == SendNode.Machine && !IsRunning(n) ? ", process ended" : "");
        }

        if (expired > 0)
        {
            signal.Nudge();
            // Only the rows whose message had started may have reached the relay: those alone come back uncertain.
            logger.LogWarning("Released {Count} deliveries held by dead nodes; they are sent again, {InFlight} of them marked uncertain (in flight when the node died)", expired, inFlight);
        }
    }

    /// <summary>Whether a process of this machine is alive; our own id means a previous life of this process number.</summary>
    private static bool IsRunning(SendNodeRow row)
    {
        var processId = row.ProcessId;
        if (processId == Environment.ProcessId)
        {
            // A row with our pid but another node id is an earlier process (a container restarts as pid 1),
            // unless it is another app host of this very process (tests run two nodes in one).
            return LiveInThisProcess.ContainsKey(row.Id);
        }

        try
        {
            using var process = Process.GetProcessById(processId);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    private void Leave()
    {
        try
        {
            using var scope = scopes.CreateScope();
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            db.SendNodes.Where(n => n.Id == node.Id).ExecuteDelete();
        }
        catch (Exception e) when (e is System.Data.Common.DbException or InvalidOperationException)
        {
            logger.LogWarning(e, "Send node {Node} could not sign off; peers will notice its silence", node.Id);
        }
    }
}

/// <summary>What the sending nodes say of the relay, in one sentence for the pages, or null while it answers.</summary>
public static class RelayStatus
{
    /// <summary>The earliest failure a live sending node reports, or null while every node's relay answers (or none has sent).</summary>
    public static async Task<(DateTimeOffset Since, string? Error)?> FailingAsync(AppDbContext db, TimeProvider clock, SendingOptions options, CancellationToken ct)
    {
        var live = clock.GetUtcNow().ToUnixTimeMilliseconds() - (long)options.NodeTimeout.TotalMilliseconds;
        var failing = await db.SendNodes.AsNoTracking().Where(n => n.HeartbeatAtMs >= live && n.RelayFailingSinceMs != null)
            .OrderBy(n => n.RelayFailingSinceMs).Select(n => new { n.RelayFailingSinceMs, n.RelayError }).FirstOrDefaultAsync(ct);
        return failing?.RelayFailingSinceMs is { } since ? (DateTimeOffset.FromUnixTimeMilliseconds(since), failing.RelayError) : null;
    }

    /// <summary>The relay's failure as the author reads it, on the progress page and the dashboard: the time in the site's zone.</summary>
    public static async Task<string?> DescribeAsync(AppDbContext db, TimeProvider clock, SendingOptions options, Site.SiteOptions site, CancellationToken ct)
    {
        if (await FailingAsync(db, clock, options, ct) is not { } failing)
        {
            return null;
        }

        var (at, error) = failing;
        return $"The SMTP relay is not answering since {site.LocalText(at.UtcDateTime, "HH:mm:ss")} ({(long)(clock.GetUtcNow() - at).TotalSeconds:N0} s): {error}";
    }
}
