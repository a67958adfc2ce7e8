namespace Newsletter.Web.Data.Providers;

/// <summary>A turn to write a new reader, where the database needs writers to take turns.</summary>
public abstract class NewReaderQueue
{
    public abstract ValueTask<IDisposable> WaitAsync(CancellationToken ct);
}

/// <summary>
/// SQLite has one write lock per file. New readers queue for it here, in order, instead of in SQLite's busy
/// handler, whose sleeps grow to 100 ms: under a burst of sign-ups that turned a few milliseconds of work
/// into seconds of waiting and timeouts.
/// </summary>
internal sealed class SqliteNewReaderQueue : NewReaderQueue
{
    private readonly SemaphoreSlim _gate = new(1, 1);

    public override async ValueTask<IDisposable> WaitAsync(CancellationToken ct)
    {
        await _gate.WaitAsync(ct);
        return new Turn(_gate);
    }

    private sealed class Turn(SemaphoreSlim gate) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                gate.Release();
            }
        }
    }
}

/// <summary>PostgreSQL locks rows, not the database: new readers write side by side, on every node.</summary>
internal sealed class PostgresNewReaderQueue : NewReaderQueue
{
    private static readonly IDisposable NoTurn = new Nothing();

    public override ValueTask<IDisposable> WaitAsync(CancellationToken ct) => ValueTask.FromResult(NoTurn);

    private sealed class Nothing : IDisposable
    {
        public void Dispose()
        {
        }
    }
}
