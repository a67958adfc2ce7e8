using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Newsletter.Testing;
using Newsletter.Web.Issues;
using Newsletter.Web.Sending;

namespace Newsletter.Tests.Sending;

/// <summary>
/// The app as real processes on one SQLite file, sending through a real SMTP server: killed with SIGKILL or
/// stopped with SIGTERM in the middle of a send and started again, or run twice side by side. What the server
/// received is the truth.
/// </summary>
public class CrashTests
{
    private const int Readers = 5000;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(200)]
    [InlineData(2500)]
    [InlineData(4800)]
    public async Task AKillMidSendLosesNobodyAndTheLedgerReportsEveryPossibleDuplicate(int killAfter)
    {
        // The relay freezes itself as it stores the killAfter-th message, before its reply, so however late this
        // test gets to run on a loaded machine the kill lands mid-send, with messages in flight. (The test used to
        // freeze it after seeing the count; a stall between the two let the last 200 go out first.)
        await using var smtp = await SmtpServer.StartAsync(new { freeze_at = killAfter });
        var data = await SendingProcess.CreateAsync(Readers);

        await using (var first = data.App(smtp))
        {
            await first.StartAsync();
            await SendingProcess.WaitForMessagesAsync(smtp, killAfter, first);
            first.KillHard();
        }

        var atKill = smtp.Count;
        smtp.Thaw();
        Assert.Equal(killAfter, atKill);
        Assert.NotEqual(IssueStatus.Sent, (await data.IssueAsync()).Status);

        await using var second = data.App(smtp);
        await second.StartAsync();
        var issue = await data.WaitUntilSentAsync(TimeSpan.FromMinutes(3), second);

        var copies = SendingProcess.CopiesByRecipient(smtp);
        var addresses = await data.AddressesAsync();
        var ledger = await data.DeliveriesAsync();
        Assert.Equal(Readers, issue.RecipientCount);
        Assert.Equal(Readers, ledger.Count);
        Assert.All(ledger, d => Assert.Equal(DeliveryStatus.Sent, d.Status));

        // Nobody lost.
        Assert.DoesNotContain(addresses.Values, a => !copies.ContainsKey(a));

        // Duplicates only from what was on the wire at the kill: each outcome is durable before the next message
        // starts, so at most one message per SMTP connection, one extra copy each (it used to be a batch of 50).
        var duplicated = copies.Where(c => c.Value > 1).Select(c => c.Key).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var bound = data.Concurrency;
        Assert.True(duplicated.Count <= bound, $"{duplicated.Count} readers got two copies; the bound is {bound}");
        Assert.All(copies, c => Assert.True(c.Value <= 2, $"{c.Key} got {c.Value} copies"));

        // And the ledger says so: every reader who may have two copies is marked Uncertain, within the same bound.
        var uncertain = ledger.Where(d => d.Uncertain).Select(d => addresses[d.SubscriberId]).ToHashSet(StringComparer.OrdinalIgnoreCase);
        Assert.Subset(uncertain, duplicated);
        Assert.NotEmpty(uncertain);
        Assert.True(uncertain.Count <= bound, $"{uncertain.Count} deliveries are uncertain; the bound is {bound}");
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"killed after {atKill} accepted; {duplicated.Count} readers got two copies; {uncertain.Count} deliveries marked uncertain; bound {bound}");
    }

    /// <summary>
    /// A node that can't take its port (a leftover process, two units on one port) fails to start and must send
    /// nothing: hosted services start before Kestrel binds, and such a node's workers used to claim rows, send,
    /// then die with the host, leaving their messages in doubt. Under systemd's restart every five seconds that
    /// was a few readers with two copies per attempt.
    /// </summary>
    [Fact]
    public async Task ANodeThatCannotTakeItsPortSendsNothing()
    {
        await using var smtp = await SmtpServer.StartAsync();
        var data = await SendingProcess.CreateAsync(400);
        await using var app = data.App(smtp);
        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, app.Port);
        taken.Start();

        var failed = await Assert.ThrowsAsync<InvalidOperationException>(() => app.StartAsync());
        Assert.Contains("during start-up", failed.Message, StringComparison.Ordinal);
        Assert.Equal(0, smtp.Count);
        // The snapshot may have been taken (a job the node ran before it failed); nothing of it was claimed.
        var ledger = await data.DeliveriesAsync();
        Assert.All(ledger, d => Assert.True(d.Status == DeliveryStatus.Pending && !d.Uncertain, $"{d.SubscriberId}: {d.Status}, uncertain {d.Uncertain}"));
        Assert.DoesNotContain("ObjectDisposedException", app.Log, StringComparison.Ordinal);
        taken.Stop();

        // Started where it can listen, it sends everyone once.
        await using var second = data.App(smtp);
        await second.StartAsync();
        await data.WaitUntilSentAsync(TimeSpan.FromMinutes(3), second);
        Assert.All(SendingProcess.CopiesByRecipient(smtp), c => Assert.True(c.Value == 1, $"{c.Key} got {c.Value} copies"));
        Assert.Equal(400, smtp.Count);
    }

    /// <summary>
    /// The operator's restart (`systemctl restart`, a deploy) in the middle of a send: SIGTERM, a graceful stop,
    /// the same app started again. Unlike a kill, nothing is in doubt: the message on the wire is let finish and
    /// recorded, the rest of each batch goes back as it was, and the restarted app sends everyone else once.
    /// A stop is not a relay failure, so the relay's state stays clear.
    /// </summary>
    [Fact]
    public async Task AGracefulStopMidSendIsResumedWithEveryReaderSentExactlyOnceAndNothingUncertain()
    {
        await using var smtp = await SmtpServer.StartAsync();
        var data = await SendingProcess.CreateAsync(Readers);

        await using (var first = data.App(smtp))
        {
            await first.StartAsync();
            await SendingProcess.WaitForMessagesAsync(smtp, 1000, first);
            Assert.Equal(0, await first.StopAsync());
            Assert.DoesNotContain("connection lost", first.Log, StringComparison.OrdinalIgnoreCase);
        }

        var atStop = smtp.Count;
        Assert.True(atStop < Readers, $"the stop came after the send had finished ({atStop} messages)");
        await AssertAStopLeftNothingInDoubtAsync(data, atStop);

        await using var second = data.App(smtp);
        await second.StartAsync();
        var issue = await data.WaitUntilSentAsync(TimeSpan.FromMinutes(3), second);
        var copies = SendingProcess.CopiesByRecipient(smtp);
        Assert.Equal(Readers, issue.RecipientCount);
        Assert.Equal(Readers, copies.Count);
        Assert.All(copies, c => Assert.True(c.Value == 1, $"{c.Key} got {c.Value} copies"));
        Assert.DoesNotContain(await data.DeliveriesAsync(), d => d.Uncertain || d.Status != DeliveryStatus.Sent);
        TestContext.Current.TestOutputHelper?.WriteLine($"stopped after {atStop} accepted; {Readers} readers, one copy each");
    }

    /// <summary>
    /// The stop arrives while a worker waits for the next message's in-flight mark, stalled on purpose: the test
    /// holds the database's write lock, so the send stops with a message built and not yet started, and the stop
    /// reaches the worker's token before the lock is let go. That message never left and goes back as it was; a
    /// stop is not the relay failing, so no "connection lost" is logged and nothing is marked in doubt. (It used to
    /// be recorded as a lost connection, which set this node's "relay not answering since" for its last heartbeat.)
    /// </summary>
    [Fact]
    public async Task AStopWhileAMessageWaitsForItsInFlightMarkHandsItBackAsItWas()
    {
        await using var smtp = await SmtpServer.StartAsync(new { delay_ms = 30 });
        var data = await SendingProcess.CreateAsync(400, batchSize: 50, concurrency: 1);
        var environment = data.Environment(smtp);
        environment["Logging__LogLevel__Microsoft.Hosting.Lifetime"] = "Information";
        await using var app = new AppProcess(environment, sampleNotes: false, root: data.Root);
        await app.StartAsync();
        await SendingProcess.WaitForMessagesAsync(smtp, 20, app);

        var holder = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = data.DatabaseFile, Pooling = false }.ToString());
        await holder.OpenAsync(Ct);
        var writeLock = (SqliteTransaction)await holder.BeginTransactionAsync(System.Data.IsolationLevel.Serializable, Ct);
        await using (var create = holder.CreateCommand())
        {
            // A write takes the lock at once (a deferred transaction takes it only at its first write).
            create.Transaction = writeLock;
            create.CommandText = "CREATE TABLE \"test_write_lock\" (\"x\" INTEGER)";
            await create.ExecuteNonQueryAsync(Ct);
        }

        // The worker is stalled once the relay has seen nothing for a while: its next commit waits for the lock.
        await WaitUntilQuietAsync(smtp, TimeSpan.FromMilliseconds(600));
        var atStall = smtp.Count; // one more may go out if the stop is slow to reach the worker
        var stopping = app.StopAsync(TimeSpan.FromMinutes(2));
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!app.Log.Contains("Application is shutting down", StringComparison.Ordinal) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20, Ct);
        }

        // The stop goes from the host to the job server to the worker's token in milliseconds; a second is plenty.
        await Task.Delay(1000, Ct);
        await writeLock.RollbackAsync(Ct);
        await holder.DisposeAsync();
        Assert.Equal(0, await stopping);

        Assert.DoesNotContain("connection lost", app.Log, StringComparison.OrdinalIgnoreCase);
        Assert.InRange(smtp.Count, atStall, atStall + 1);
        await AssertAStopLeftNothingInDoubtAsync(data, smtp.Count);
    }

    /// <summary>
    /// After a graceful stop every message the relay accepted is on record as sent, nothing is in doubt or failed,
    /// and no node says its relay is failing: a stop is not an outage.
    /// </summary>
    private static async Task AssertAStopLeftNothingInDoubtAsync(SendingProcess data, int accepted)
    {
        var ledger = await data.DeliveriesAsync();
        Assert.Equal(accepted, ledger.Count(d => d.Status == DeliveryStatus.Sent));
        Assert.DoesNotContain(ledger, d => d.Uncertain || d.Status == DeliveryStatus.Failed);
        await using var db = data.Open();
        Assert.Empty(await db.SendNodes.AsNoTracking().Where(n => n.RelayFailingSinceMs != null).ToListAsync(Ct));
    }

    private static async Task WaitUntilQuietAsync(SmtpServer smtp, TimeSpan quiet)
    {
        var deadline = DateTime.UtcNow.AddMinutes(1);
        var last = smtp.Count;
        var since = DateTime.UtcNow;
        while (DateTime.UtcNow - since < quiet)
        {
            Assert.True(DateTime.UtcNow < deadline, "the send never stalled on the held write lock");
            await Task.Delay(50, Ct);
            if (smtp.Count != last)
            {
                (last, since) = (smtp.Count, DateTime.UtcNow);
            }
        }
    }

    [Theory]
    [InlineData("Sqlite")]
    [InlineData("InMemory")]
    public async Task TwoAppProcessesOnOneDatabaseSendEachReaderExactlyOnce(string jobStorage)
    {
        // Sqlite: the processes share one job file too, as two nodes on one host do. InMemory: each has its
        // own job store. Either way each node runs its own send workers, and only the ledger's claims and
        // leases keep the two apart.
        await using var smtp = await SmtpServer.StartAsync();
        var data = await SendingProcess.CreateAsync(Readers);
        var environment = data.Environment(smtp);
        environment["Jobs__Storage"] = jobStorage;
        // Both processes must take part for the claims to be tested: each node's workers join a send within a
        // second of it starting, and the shared rate limit keeps the send going for about 10 s.
        environment["Sending__MaxPerSecond"] = "500";

        // Both sides of the send on a busy machine: workers stall for seconds when the burners take their
        // cores, which is when a lease that isn't renewed gets taken over and a reader gets two copies.
        using var burner = new CpuBurner();
        await using var one = new AppProcess(environment, sampleNotes: false, root: data.Root);
        await using var two = new AppProcess(environment, sampleNotes: false, root: data.Root);
        await Task.WhenAll(one.StartAsync(TimeSpan.FromMinutes(2)), two.StartAsync(TimeSpan.FromMinutes(2)));

        var issue = await data.WaitUntilSentAsync(TimeSpan.FromMinutes(6), one, two);

        var copies = SendingProcess.CopiesByRecipient(smtp);
        var addresses = await data.AddressesAsync();
        var ledger = await data.DeliveriesAsync();
        Assert.Equal(Readers, issue.RecipientCount);
        Assert.Equal(addresses.Values.Order(StringComparer.OrdinalIgnoreCase), copies.Keys.Order(StringComparer.OrdinalIgnoreCase));
        Assert.All(copies, c => Assert.Equal(1, c.Value));
        Assert.All(ledger, d => Assert.Equal(DeliveryStatus.Sent, d.Status));
        Assert.DoesNotContain(ledger, d => d.Uncertain);
        Assert.Equal(1, issue.Number);

        await WaitForWorkersToStopAsync(one, two);
        var sentByOne = SentBy(one);
        var sentByTwo = SentBy(two);
        TestContext.Current.TestOutputHelper?.WriteLine($"{jobStorage} job storage: process one sent {sentByOne}, process two sent {sentByTwo}");
        Assert.Equal(Readers, sentByOne + sentByTwo);
        Assert.True(sentByOne > 0 && sentByTwo > 0, $"one process sent everything ({sentByOne} / {sentByTwo})");
    }

    [Fact]
    public async Task KillingOneOfTwoNodesHandsItsBatchesToTheOtherWithoutWaitingForTheLease()
    {
        await using var smtp = await SmtpServer.StartAsync();
        var data = await SendingProcess.CreateAsync(Readers);
        var environment = data.Environment(smtp);
        environment["Sending__MaxPerSecond"] = "400";
        using var burner = new CpuBurner(perCore: 1);
        await using var one = new AppProcess(environment, sampleNotes: false, root: data.Root);
        await using var two = new AppProcess(environment, sampleNotes: false, root: data.Root);
        await Task.WhenAll(one.StartAsync(TimeSpan.FromMinutes(2)), two.StartAsync(TimeSpan.FromMinutes(2)));
        await SendingProcess.WaitForMessagesAsync(smtp, 1500, one);
        one.KillHard();
        var atKill = smtp.Count;

        // The lease is five minutes: only the survivor noticing the dead node lets the send finish in time.
        var issue = await data.WaitUntilSentAsync(TimeSpan.FromMinutes(2), two);
        Assert.Equal(IssueStatus.Sent, issue.Status);
        Assert.Contains("is gone", two.Log, StringComparison.Ordinal);

        var copies = SendingProcess.CopiesByRecipient(smtp);
        var addresses = await data.AddressesAsync();
        var ledger = await data.DeliveriesAsync();
        Assert.DoesNotContain(addresses.Values, a => !copies.ContainsKey(a));
        Assert.All(copies, c => Assert.True(c.Value <= 2, $"{c.Key} got {c.Value} copies"));
        var duplicated = copies.Where(c => c.Value > 1).Select(c => c.Key).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var uncertain = ledger.Where(d => d.Uncertain).Select(d => addresses[d.SubscriberId]).ToHashSet(StringComparer.OrdinalIgnoreCase);
        Assert.Subset(uncertain, duplicated);
        var bound = data.Concurrency;
        Assert.True(uncertain.Count <= bound, $"{uncertain.Count} deliveries are uncertain; the bound is {bound}");
        TestContext.Current.TestOutputHelper?.WriteLine($"killed one node at {atKill} accepted; {duplicated.Count} readers got two copies; {uncertain.Count} uncertain; bound {bound}");
    }

    /// <summary>What a process's send workers say they sent, from their "stopped" log lines.</summary>
    private static int SentBy(AppProcess app) =>
        System.Text.RegularExpressions.Regex.Matches(app.Log, @"stopped: (\d+) sent in").Sum(m => int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));

    private static async Task WaitForWorkersToStopAsync(params AppProcess[] apps)
    {
        // The last worker logs just after the issue turns Sent; on a loaded machine that can take a while.
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (apps.Sum(SentBy) < Readers)
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"The workers' stop lines add up to {apps.Sum(SentBy)} of {Readers} sent.\n" + string.Join("\n----\n", apps.Select(a => a.Log)));
            }

            await Task.Delay(100, Ct);
        }
    }
}
