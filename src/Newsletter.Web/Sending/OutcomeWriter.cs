using Microsoft.EntityFrameworkCore;

namespace Newsletter.Web.Sending;

/// <summary>
/// This node's one writer of message outcomes: every send worker hands it each outcome as the relay's reply
/// arrives, and the row whose message it starts next, and waits until both are committed before that message
/// goes out. Whatever is queued while a commit runs goes into the next one, so four workers cost about one
/// transaction per message between them, not one each, and they never wait on each other's write locks.
/// </summary>
/// <remarks>
/// Why a worker waits: a crash may then cost only the one message each connection has on the wire. An
/// outcome still queued when the process dies would send its reader a second copy; a message started before
/// its in-flight mark was durable would be sent again without the ledger saying the reader may have two.
/// Outcomes used to be written once per batch of up to 50, so a kill sent up to 50 copies again per worker.
/// </remarks>
public sealed class OutcomeWriter(IServiceScopeFactory scopes, ILogger<OutcomeWriter> logger) : IDisposable
{
    // A plain object: the queue waits on it with Monitor.Wait/Pulse.
    private readonly object _gate = new();
    private List<Request> _queue = [];
    private Thread? _thread;
    private bool _stopping;

    /// <summary>
    /// Queues <paramref name="outcomes"/> and, when <paramref name="starting"/> is given, the row whose message
    /// is about to start. Wait on the answer before sending that message.
    /// </summary>
    public Request Submit(string owner, IReadOnlyList<DeliveryOutcome> outcomes, long? starting)
    {
        var request = new Request(owner, outcomes, starting);
        if (outcomes.Count == 0 && starting is null)
        {
            request.Complete(false, null);
            return request;
        }

        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_stopping, this);
            _queue.Add(request);
            if (_thread is null)
            {
                _thread = new Thread(Run) { IsBackground = true, Name = "Outcome writer" };
                _thread.Start();
            }

            Monitor.Pulse(_gate);
        }

        return request;
    }

    private void Run()
    {
        IServiceScope? scope = null;
        try
        {
            while (true)
            {
                List<Request> group;
                lock (_gate)
                {
                    while (_queue.Count == 0 && !_stopping)
                    {
                        Monitor.Wait(_gate);
                    }

                    if (_queue.Count == 0)
                    {
                        return;
                    }

                    group = _queue;
                    _queue = [];
                }

                try
                {
                    if (scope is null)
                    {
                        scope = scopes.CreateScope();
                        // Held open for as long as this scope lives: opening and closing a pooled connection
                        // around every commit was a third of this thread's CPU under perf in s1.
                        scope.ServiceProvider.GetRequiredService<Data.AppDbContext>().Database.OpenConnection();
                    }

                    var ledger = scope.ServiceProvider.GetRequiredService<Ledger>();
                    var outcomes = group.SelectMany(r => r.Outcomes.Select(o => new OwnedOutcome(r.Owner, o))).ToList();
                    var starting = group.Where(r => r.Starting is not null).Select(r => (r.Owner, r.Starting!.Value)).ToList();
                    var marked = ledger.Write(outcomes, starting);
                    foreach (var r in group)
                    {
                        r.Complete(r.Starting is { } id && marked.Contains(id), null);
                    }
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    // Each worker hands its batch back as it does when any ledger write fails; a fresh context
                    // (and connection) serves the next group.
                    logger.LogError(e, "Could not write {Count} send workers' outcomes", group.Count);
                    foreach (var r in group)
                    {
                        r.Complete(false, e);
                    }

                    scope?.Dispose();
                    scope = null;
                }
            }
        }
        finally
        {
            scope?.Dispose();
        }
    }

    public void Dispose()
    {
        Thread? thread;
        lock (_gate)
        {
            _stopping = true;
            thread = _thread;
            Monitor.PulseAll(_gate);
        }

        // What is queued is still written: those messages have been sent.
        thread?.Join(TimeSpan.FromSeconds(30));
    }

    /// <summary>One worker's part of a group commit.</summary>
    public sealed class Request(string owner, IReadOnlyList<DeliveryOutcome> outcomes, long? starting)
    {
        private readonly ManualResetEventSlim _done = new();
        private bool _marked;
        private Exception? _error;

        public string Owner => owner;

        public IReadOnlyList<DeliveryOutcome> Outcomes => outcomes;

        public long? Starting => starting;

        internal void Complete(bool marked, Exception? error)
        {
            _marked = marked;
            _error = error;
            _done.Set();
        }

        /// <summary>
        /// Waits for the commit. True when the starting row was marked in flight (it is still this worker's and
        /// may be sent); false when there was none or it is no longer this worker's. Throws when the commit failed.
        /// </summary>
        public bool Wait()
        {
            _done.Wait();
            _done.Dispose();
            if (_error is not null)
            {
                throw new InvalidOperationException("The send outcomes could not be written.", _error);
            }

            return _marked;
        }
    }
}
