using Hangfire.Logging;
using Microsoft.Data.Sqlite;

namespace Newsletter.Hangfire.Sqlite;

/// <summary>
/// Lock rows this process released but has not deleted yet. A release costs no transaction of its own: the delete rides in
/// the next write transaction of this storage, or a timer's once <see cref="Grace"/> has passed. Meanwhile a taker in this
/// process adopts the row as it is, so a worker that locks a job for its Processing state and again for Succeeded writes
/// the lock once. The row stays the old owner's in the file until it is deleted, so other processes wait at most the grace
/// longer than they would have; a crash before the delete leaves a row that expires like a killed holder's.
/// </summary>
internal sealed class ParkedLocks : IDisposable
{
    /// <summary>How long a released row waits for a taker in this process before it is deleted on its own.</summary>
    public static readonly TimeSpan Grace = TimeSpan.FromMilliseconds(100);

    private static readonly ILog Logger = LogProvider.GetLogger(typeof(ParkedLocks));

    private readonly SqliteDatabase _database;
    private readonly Dictionary<string, Parked> _parked = new(StringComparer.Ordinal);
    private readonly Timer _timer;
    private bool _armed;
    private bool _closing;
    private volatile bool _paused;

    public ParkedLocks(SqliteDatabase database)
    {
        _database = database;
        _timer = new Timer(_ => FlushDue(), null, Timeout.Infinite, Timeout.Infinite);
    }

    /// <summary>
    /// A released lock row. <paramref name="ExpiresAt"/> is the expiry its owner last wrote; <paramref name="ParkedAt"/> is
    /// when it was first released, kept through adoptions, so a row passed from taker to taker in this process is still
    /// deleted a grace after its first release and other processes get their turn.
    /// </summary>
    public sealed record Parked(string Resource, string Owner, long ExpiresAt, long ParkedAt);

    /// <summary>Tests stop the timer's deletes, so only writes carry them; a write transaction still deletes what is due.</summary>
    internal void Pause() => _paused = true;

    internal void Resume() => _paused = false;

    /// <summary>
    /// False when a row of that resource is parked already (only a lost lock can leave one) or the storage is disposed:
    /// delete it at once then.
    /// </summary>
    public bool Park(Parked parked)
    {
        lock (_parked)
        {
            if (_closing || !_parked.TryAdd(parked.Resource, parked))
            {
                return false;
            }

            Arm(parked.ParkedAt);
            return true;
        }
    }

    /// <summary>Takes a parked row over when nobody else can have taken it: its written expiry is still at least <paramref name="minExpiresAt"/>.</summary>
    public Parked? TryAdopt(string resource, long minExpiresAt)
    {
        lock (_parked)
        {
            if (_parked.TryGetValue(resource, out var parked) && parked.ExpiresAt >= minExpiresAt)
            {
                _parked.Remove(resource);
                return parked;
            }

            return null;
        }
    }

    /// <summary>
    /// Deletes, inside the caller's write transaction, the rows whose grace is over (all of them once disposing), and returns
    /// them: they are out of reach of adoption until <see cref="Settle"/> says whether the delete committed.
    /// </summary>
    public List<Parked>? DeleteDue(SqliteConnection connection)
    {
        List<Parked>? due = null;
        lock (_parked)
        {
            if (_parked.Count == 0)
            {
                return null;
            }

            var cutoff = UnixMs.Now() - (long)Grace.TotalMilliseconds;
            foreach (var parked in _parked.Values)
            {
                if (_closing || parked.ParkedAt <= cutoff)
                {
                    (due ??= []).Add(parked);
                }
            }

            if (due is null)
            {
                return null;
            }

            foreach (var parked in due)
            {
                _parked.Remove(parked.Resource);
            }
        }

        try
        {
            foreach (var parked in due)
            {
                // Guarded by the owner token, as every release is: a row someone else owns now is left alone.
                connection.Execute(
                    "DELETE FROM distributed_lock WHERE resource = $resource AND owner = $owner",
                    ("$resource", parked.Resource),
                    ("$owner", parked.Owner));
            }
        }
        catch
        {
            Settle(due, committed: false);
            throw;
        }

        return due;
    }

    /// <summary>Rows whose delete did not commit are parked again, to go with a later transaction.</summary>
    public void Settle(List<Parked>? deleted, bool committed)
    {
        if (deleted is null || committed)
        {
            return;
        }

        lock (_parked)
        {
            foreach (var parked in deleted)
            {
                // Never adopted again: a commit that reported failure may still have deleted the row.
                _parked.TryAdd(parked.Resource, parked with { ExpiresAt = 0 });
            }

            if (!_closing)
            {
                Arm(UnixMs.Now());
            }
        }
    }

    /// <summary>Deletes every parked row now, and every row parked later at the next write; the storage calls it when disposed.</summary>
    public void Dispose()
    {
        bool any;
        lock (_parked)
        {
            // Under the lock that Arm runs in, so no one arms the timer after it is gone.
            _closing = true;
            any = _parked.Count > 0;
        }

        _timer.Dispose();
        if (!any)
        {
            return;
        }

        try
        {
            _database.Write(_ => { });
        }
        catch (SqliteException ex)
        {
            Logger.WarnException("Could not delete released lock rows; they expire on their own.", ex);
        }
    }

    private void Arm(long parkedAt)
    {
        if (_armed)
        {
            return;
        }

        _armed = true;
        var due = Math.Max(0, parkedAt + (long)Grace.TotalMilliseconds - UnixMs.Now());
        _timer.Change(due, Timeout.Infinite);
    }

    private void FlushDue()
    {
        lock (_parked)
        {
            _armed = false;
            if (_parked.Count == 0 || _closing)
            {
                return;
            }
        }

        // Paused counts as failed: look again a grace later.
        var failed = _paused;
        if (!failed)
        {
            try
            {
                // Any write deletes what is due; an empty one is enough. Rows not yet due keep the timer armed.
                _database.Write(_ => { });
            }
            catch (Exception ex) when (ex is SqliteException or InvalidOperationException or IOException)
            {
                failed = true;
                Logger.WarnException("Could not delete released lock rows; will retry.", ex);
            }
        }

        lock (_parked)
        {
            if (_parked.Count > 0 && !_closing)
            {
                // After a failure, a grace from now rather than at once, so a file that stays busy is not hammered.
                Arm(failed ? UnixMs.Now() : _parked.Values.Min(p => p.ParkedAt));
            }
        }
    }
}
