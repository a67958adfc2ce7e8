using Hangfire.Logging;
using Hangfire.Storage;
using Microsoft.Data.Sqlite;

namespace Newsletter.Hangfire.Sqlite;

/// <summary>
/// A queue row this worker claimed with a fetch token. The row stays invisible while the lease keeper renews its fetch time;
/// acknowledging and requeueing are guarded by the token, so a worker that lost the row (it froze past the invisibility
/// timeout and another worker claimed it) can never delete or release someone else's claim.
/// </summary>
internal sealed class SqliteFetchedJob : IFetchedJob, ILease
{
    private static readonly ILog Logger = LogProvider.GetLogger(typeof(SqliteFetchedJob));

    private readonly SqliteStorage _storage;
    private readonly object _sync = new();
    private volatile bool _settled;

    public SqliteFetchedJob(SqliteStorage storage, long queueRowId, long jobId, long token)
    {
        _storage = storage;
        QueueRowId = queueRowId;
        JobId = UnixMs.Id(jobId);
        Token = token;
        storage.Leases.Track(this);
    }

    public long QueueRowId { get; }

    public string JobId { get; }

    public long Token { get; }

    public TimeSpan RenewInterval => _storage.Options.InvisibilityTimeout / 5;

    public void RemoveFromQueue()
    {
        lock (_sync)
        {
            if (_settled)
            {
                return;
            }

            _storage.Database.Write(connection => Delete(connection));
            Settle();
        }
    }

    public void Requeue()
    {
        lock (_sync)
        {
            if (_settled)
            {
                return;
            }

            _storage.Database.Write(connection => connection.Execute(
                "UPDATE job_queue SET fetched_at = NULL, fetch_token = NULL WHERE id = $id AND fetch_token = $token",
                ("$id", QueueRowId),
                ("$token", Token)));
            Settle();
            _storage.SignalJobEnqueued();
        }
    }

    public void Dispose()
    {
        // Neither acknowledged nor requeued: the worker gave up on it, so let another one have it now rather than after
        // the invisibility timeout.
        try
        {
            if (!_settled)
            {
                Requeue();
            }
        }
        catch (SqliteException ex)
        {
            // Throwing from Dispose would hide the exception that is unwinding; the row comes back after the timeout.
            Logger.WarnException($"Could not requeue background job '{JobId}' at once; it becomes visible again after {_storage.Options.InvisibilityTimeout}.", ex);
        }
        finally
        {
            _storage.Leases.Untrack(this);
        }
    }

    public int Delete(SqliteConnection connection) => connection.Execute(
        "DELETE FROM job_queue WHERE id = $id AND fetch_token = $token",
        ("$id", QueueRowId),
        ("$token", Token));

    /// <summary>Called after a state-change transaction that deleted the row committed.</summary>
    public void AcknowledgedInTransaction()
    {
        lock (_sync)
        {
            Settle();
        }
    }

    // No lock here: this runs inside the keeper's write transaction, and a worker holding _sync may be waiting for that
    // very write lock. The token in the WHERE clause is what keeps a settled row untouched.
    public bool Renew(SqliteConnection connection) => _settled || connection.Execute(
        "UPDATE job_queue SET fetched_at = $now WHERE id = $id AND fetch_token = $token",
        ("$now", UnixMs.Now()),
        ("$id", QueueRowId),
        ("$token", Token)) == 1;

    public void Lost()
    {
        lock (_sync)
        {
            if (_settled)
            {
                return;
            }
        }

        Logger.Error($"Background job '{JobId}' was claimed by another worker after its invisibility timeout ({_storage.Options.InvisibilityTimeout}) ran out here; it may run twice.");
    }

    private void Settle()
    {
        _settled = true;
        _storage.Leases.Untrack(this);
    }
}
