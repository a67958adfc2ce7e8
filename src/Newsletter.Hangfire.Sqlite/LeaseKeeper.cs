using System.Collections.Concurrent;
using System.Diagnostics;
using Hangfire.Logging;
using Microsoft.Data.Sqlite;

namespace Newsletter.Hangfire.Sqlite;

/// <summary>Something this process holds in the database only while it keeps renewing it: a fetched job or a lock.</summary>
internal interface ILease
{
    TimeSpan RenewInterval { get; }

    /// <summary>Extends the lease inside the keeper's transaction; false when someone else owns it now.</summary>
    bool Renew(SqliteConnection connection);

    void Lost();
}

/// <summary>
/// One background thread per storage renews every lease this process holds, in one short transaction per tick. A dedicated
/// thread rather than a timer: a starved thread pool must not let a live job's invisibility or a held lock run out.
/// </summary>
internal sealed class LeaseKeeper : IDisposable
{
    private static readonly ILog Logger = LogProvider.GetLogger(typeof(LeaseKeeper));

    private readonly ConcurrentDictionary<ILease, long> _leases = new();
    private readonly SqliteDatabase _database;
    private readonly TimeSpan _tick;
    private readonly ManualResetEventSlim _stop = new(false);
    private readonly object _startLock = new();
    private Thread? _thread;
    private volatile bool _paused;

    public LeaseKeeper(SqliteDatabase database, TimeSpan shortestLease)
    {
        _database = database;
        _tick = TimeSpan.FromMilliseconds(Math.Clamp(shortestLease.TotalMilliseconds / 10, 20, 5000));
    }

    public void Track(ILease lease)
    {
        _leases[lease] = Stopwatch.GetTimestamp();
        EnsureStarted();
    }

    public void Untrack(ILease lease) => _leases.TryRemove(lease, out _);

    /// <summary>Tests stop renewals to play a process that froze (a long GC pause, a stopped VM) while holding leases.</summary>
    internal void Pause() => _paused = true;

    internal void Resume() => _paused = false;

    public void Dispose()
    {
        _stop.Set();
        _thread?.Join(TimeSpan.FromSeconds(10));
    }

    private void EnsureStarted()
    {
        if (_thread is not null)
        {
            return;
        }

        lock (_startLock)
        {
            if (_thread is null)
            {
                var thread = new Thread(Run) { IsBackground = true, Name = "Hangfire SQLite lease keeper" };
                thread.Start();
                _thread = thread;
            }
        }
    }

    private void Run()
    {
        while (!_stop.Wait(_tick))
        {
            if (_paused)
            {
                continue;
            }

            var now = Stopwatch.GetTimestamp();
            var due = _leases.Where(pair => Stopwatch.GetElapsedTime(pair.Value, now) >= pair.Key.RenewInterval).Select(pair => pair.Key).ToList();
            if (due.Count == 0)
            {
                continue;
            }

            try
            {
                var lost = _database.Write(connection => due.Where(lease => !lease.Renew(connection)).ToList());
                foreach (var lease in due)
                {
                    // Only leases still tracked get a new stamp: one released meanwhile must not come back.
                    _leases.TryUpdate(lease, now, _leases.GetValueOrDefault(lease));
                }

                foreach (var lease in lost)
                {
                    // A lease released while this tick ran finds its row gone too; that is a release, not a loss.
                    if (_leases.TryRemove(lease, out _))
                    {
                        lease.Lost();
                    }
                }
            }
            catch (Exception ex) when (ex is SqliteException or InvalidOperationException or IOException)
            {
                // The next tick tries again; a lease is only in danger after five missed renewals.
                Logger.WarnException("Could not renew the leases of fetched jobs and distributed locks; will retry.", ex);
            }
        }
    }
}
