using System.Globalization;
using Hangfire.Storage;

namespace Newsletter.Hangfire.Sqlite.Tests;

/// <summary>Locks are rows with an owner and an expiry in the shared file, so they hold across processes too.</summary>
public sealed class LockTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task ALockExcludesOtherProcessesAndThreads()
    {
        var counter = _folder.File("counter.txt");
        using var storage = _folder.OpenStorage();
        using var first = HostProcess.Start("lock-increment", _folder.Db, "--resource", "shared", "--file", counter, "--n", "100");
        using var second = HostProcess.Start("lock-increment", _folder.Db, "--resource", "shared", "--file", counter, "--n", "100");
        await first.WaitForLineAsync("ready", TimeSpan.FromSeconds(60));
        await second.WaitForLineAsync("ready", TimeSpan.FromSeconds(60));
        first.Send("go");
        second.Send("go");
        var local = Enumerable.Range(0, 2).Select(_ => Task.Run(() =>
        {
            using var connection = storage.GetConnection();
            for (var i = 0; i < 50; i++)
            {
                using (connection.AcquireDistributedLock("shared", TimeSpan.FromSeconds(60)))
                {
                    var value = File.Exists(counter) ? int.Parse(File.ReadAllText(counter), CultureInfo.InvariantCulture) : 0;
                    Thread.Yield();
                    File.WriteAllText(counter, (value + 1).ToString(CultureInfo.InvariantCulture));
                }
            }
        })).ToList();
        await Task.WhenAll(local);
        Assert.Equal(0, await first.WaitForExitAsync(TimeSpan.FromMinutes(2)));
        Assert.Equal(0, await second.WaitForExitAsync(TimeSpan.FromMinutes(2)));
        Assert.Equal("300", File.ReadAllText(counter));
    }

    [Fact]
    public async Task AKilledHoldersLockExpiresAndCanBeTaken()
    {
        using var storage = _folder.OpenStorage();
        using var holder = HostProcess.Start("lock-hold", _folder.Db, "--resource", "orphan", "--hold-ms", "600000", "--lock-lifetime", "2");
        await holder.WaitForLineAsync("acquired", TimeSpan.FromSeconds(60));
        using var connection = storage.GetConnection();
        Assert.Throws<DistributedLockTimeoutException>(() => connection.AcquireDistributedLock("orphan", TimeSpan.Zero).Dispose());

        holder.Kill();
        using var taken = connection.AcquireDistributedLock("orphan", TimeSpan.FromSeconds(30));
        Assert.Equal(1, Db.Scalar(_folder.Db, "SELECT COUNT(*) FROM distributed_lock WHERE resource = 'orphan'"));
    }

    [Fact]
    public void AnEndlessWaitForALockEndsAtTheConfiguredLockTimeout()
    {
        using var storage = _folder.OpenStorage(o => o.DistributedLockTimeout = TimeSpan.FromMilliseconds(300));
        using var holder = storage.GetConnection();
        using var waiter = storage.GetConnection();
        using var held = holder.AcquireDistributedLock("stuck", TimeSpan.FromSeconds(1));
        var error = Assert.Throws<DistributedLockTimeoutException>(() => waiter.AcquireDistributedLock("stuck", Timeout.InfiniteTimeSpan));
        Assert.EndsWith("stuck", error.Resource, StringComparison.Ordinal);
    }

    [Fact]
    public void ALiveHolderKeepsItsLockThroughRenewalLongPastItsLifetime()
    {
        using var holderStorage = _folder.OpenStorage(o => o.DistributedLockLifetime = TimeSpan.FromSeconds(2));
        using var otherStorage = _folder.OpenStorage(o => o.DistributedLockLifetime = TimeSpan.FromSeconds(2));
        using var holder = holderStorage.GetConnection();
        using var other = otherStorage.GetConnection();
        var held = holder.AcquireDistributedLock("renewed", TimeSpan.FromSeconds(1));

        // Three lifetimes of trying: only renewal keeps the row from expiring under the other taker.
        Assert.Throws<DistributedLockTimeoutException>(() => other.AcquireDistributedLock("renewed", TimeSpan.FromSeconds(6)).Dispose());
        held.Dispose();
        other.AcquireDistributedLock("renewed", TimeSpan.FromSeconds(5)).Dispose();
    }

    [Fact]
    public async Task AStaleRenewalAndReleaseNeverTouchANewOwnersLock()
    {
        using var staleStorage = _folder.OpenStorage(o => o.DistributedLockLifetime = TimeSpan.FromSeconds(1));
        using var newStorage = _folder.OpenStorage(o => o.DistributedLockLifetime = TimeSpan.FromSeconds(30));
        using var stale = staleStorage.GetConnection();
        using var fresh = newStorage.GetConnection();
        using var third = newStorage.GetConnection();
        var staleHandle = stale.AcquireDistributedLock("contested", TimeSpan.FromSeconds(1));

        // The holder freezes (a long GC pause, a stopped VM): its lock expires and another owner takes it.
        staleStorage.Leases.Pause();
        var freshHandle = fresh.AcquireDistributedLock("contested", TimeSpan.FromSeconds(30));

        // It wakes: its renewal finds another owner's row and gives up, and its release deletes nothing.
        staleStorage.Leases.Resume();
        await Eventually.TrueAsync(
            () => HangfireLog.All.Any(l => l.Contains("'contested' expired before it was renewed", StringComparison.Ordinal)),
            TimeSpan.FromSeconds(30),
            () => "the stale holder never tried to renew");
        staleHandle.Dispose();
        Assert.Throws<DistributedLockTimeoutException>(() => third.AcquireDistributedLock("contested", TimeSpan.FromMilliseconds(300)).Dispose());

        freshHandle.Dispose();
        third.AcquireDistributedLock("contested", TimeSpan.FromSeconds(5)).Dispose();
    }
}
