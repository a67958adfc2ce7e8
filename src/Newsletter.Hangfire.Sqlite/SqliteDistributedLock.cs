using System.Diagnostics;
using Hangfire.Logging;
using Hangfire.Storage;
using Microsoft.Data.Sqlite;

namespace Newsletter.Hangfire.Sqlite;

/// <summary>
/// The locks one storage connection holds. A lock is a row per resource with an owner token and an expiry; the owner
/// renews it while it holds it, and only the owner's token can release it. Re-entrant per connection: Hangfire takes the
/// same lock again further down the same call chain.
/// </summary>
internal sealed class SqliteLockSet
{
    private readonly SqliteStorage _storage;
    private readonly Dictionary<string, HeldLock> _held = new(StringComparer.Ordinal);

    public SqliteLockSet(SqliteStorage storage) => _storage = storage;

    public IDisposable Acquire(string resource, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(resource);
        if (timeout < TimeSpan.Zero && timeout != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), timeout, "The timeout must be zero, positive or infinite.");
        }

        if (timeout == Timeout.InfiniteTimeSpan)
        {
            timeout = _storage.Options.DistributedLockTimeout;
        }

        lock (_held)
        {
            if (_held.TryGetValue(resource, out var existing))
            {
                existing.Level++;
                return new LockHandle(this, existing);
            }
        }

        var owner = Guid.NewGuid().ToString("N");
        var started = Stopwatch.GetTimestamp();
        var delay = TimeSpan.FromMilliseconds(5);
        HeldLock? held;
        while ((held = TryAdopt(resource) ?? HeldLock.TryInsert(_storage, resource, owner)) is null)
        {
            var remaining = timeout - Stopwatch.GetElapsedTime(started);
            if (remaining <= TimeSpan.Zero)
            {
                throw new DistributedLockTimeoutException(resource);
            }

            _storage.WaitForLockRelease(remaining < delay ? remaining : delay);
            delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 100));
        }

        lock (_held)
        {
            _held[resource] = held;
        }

        _storage.Leases.Track(held);
        return new LockHandle(this, held);
    }

    /// <summary>
    /// A row this process released but has not deleted yet is taken over without a write, while its written expiry is at
    /// least half a lifetime away: until then no other owner can have taken it, and the lease keeper renews it long before.
    /// </summary>
    private HeldLock? TryAdopt(string resource)
    {
        var minExpiresAt = UnixMs.Now() + (long)(_storage.Options.DistributedLockLifetime.TotalMilliseconds / 2);
        return _storage.Database.Parked.TryAdopt(resource, minExpiresAt) is { } parked
            ? new HeldLock(_storage, resource, parked.Owner, parked.ExpiresAt, parked.ParkedAt)
            : null;
    }

    public void ReleaseAll()
    {
        List<HeldLock> all;
        lock (_held)
        {
            all = [.. _held.Values];
            _held.Clear();
        }

        foreach (var held in all)
        {
            held.Release();
        }
    }

    private void Release(HeldLock held)
    {
        lock (_held)
        {
            if (--held.Level > 0)
            {
                return;
            }

            _held.Remove(held.Resource);
        }

        held.Release();
    }

    private sealed class LockHandle(SqliteLockSet owner, HeldLock held) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                owner.Release(held);
            }
        }
    }

    private sealed class HeldLock(SqliteStorage storage, string resource, string owner, long expiresAt, long? parkedAt) : ILease
    {
        private static readonly ILog Logger = LogProvider.GetLogger(typeof(SqliteLockSet));

        private volatile bool _lost;

        public string Resource { get; } = resource;

        public int Level { get; set; } = 1;

        public TimeSpan RenewInterval => storage.Options.DistributedLockLifetime / 5;

        /// <summary>Takes the row when it is free or its holder stopped renewing it; one statement, so two takers cannot both win.</summary>
        public static HeldLock? TryInsert(SqliteStorage storage, string resource, string owner)
        {
            var expiresAt = UnixMs.After(storage.Options.DistributedLockLifetime);
            var taken = storage.Database.Write(connection => connection.Execute(
                """
                INSERT INTO distributed_lock (resource, owner, expire_at) VALUES ($resource, $owner, $expireAt)
                ON CONFLICT (resource) DO UPDATE SET owner = excluded.owner, expire_at = excluded.expire_at
                WHERE distributed_lock.expire_at < $now
                """,
                ("$resource", resource),
                ("$owner", owner),
                ("$expireAt", expiresAt),
                ("$now", UnixMs.Now())) == 1);
            return taken ? new HeldLock(storage, resource, owner, expiresAt, parkedAt: null) : null;
        }

        public bool Renew(SqliteConnection connection) => connection.Execute(
            "UPDATE distributed_lock SET expire_at = $expireAt WHERE resource = $resource AND owner = $owner",
            ("$expireAt", UnixMs.After(storage.Options.DistributedLockLifetime)),
            ("$resource", Resource),
            ("$owner", owner)) == 1;

        public void Lost()
        {
            _lost = true;
            Logger.Error($"The distributed lock '{Resource}' expired before it was renewed and another owner may hold it now; the work it guarded is no longer exclusive.");
        }

        /// <summary>
        /// Parks the row for the next write transaction to delete, or for a taker in this process to adopt. The expiry kept is
        /// the one written when the row was taken: renewals may roll back, so only that one is known to be in the file.
        /// </summary>
        public void Release()
        {
            storage.Leases.Untrack(this);
            if (_lost || !storage.Database.Parked.Park(new ParkedLocks.Parked(Resource, owner, expiresAt, parkedAt ?? UnixMs.Now())))
            {
                Delete();
            }

            storage.SignalLockRelease();
        }

        private void Delete()
        {
            try
            {
                // Guarded by the owner token: a holder whose lock expired and was taken never deletes the new owner's row.
                storage.Database.Write(connection => connection.Execute(
                    "DELETE FROM distributed_lock WHERE resource = $resource AND owner = $owner",
                    ("$resource", Resource),
                    ("$owner", owner)));
            }
            catch (SqliteException ex)
            {
                // Throwing from Dispose would mask the exception that may be unwinding; the row expires on its own.
                Logger.ErrorException($"Could not release the distributed lock '{Resource}'; it frees itself within {storage.Options.DistributedLockLifetime}.", ex);
            }
        }
    }
}
