using System.Diagnostics;
using System.Threading.Channels;
using Newsletter.Web.Data;
using Newsletter.Web.Data.Providers;
using Newsletter.Web.Infrastructure;

namespace Newsletter.Web.Subscribers;

/// <summary>
/// This node's one writer of public sign-ups: each subscribe request hands it its client, its address and the
/// sign-up, and is answered once they are committed. Whatever arrives while a commit runs goes into the next
/// one, so a burst costs one transaction per batch instead of one (and a turn at SQLite's write lock) per request.
/// </summary>
/// <remarks>
/// The batch takes both rate-limit permits of each request and stores each sign-up that got them, in request
/// order, in one transaction: the counts hold for every node together as before, and the answer the visitor
/// gets says the sign-up is on disk. A process killed at any moment after the answer loses no sign-up; one
/// killed before it never told anyone "check your inbox". The work that depends on the address happens later,
/// in <see cref="SignUpDispatcher"/>, so this path does the same for every address and can't be timed.
/// </remarks>
public sealed class SignUpWriter(IServiceScopeFactory scopes, SignUpSignal signal, ILogger<SignUpWriter> logger) : IAsyncDisposable
{
    /// <summary>Enough to drain a burst in one commit, few enough that one commit stays short.</summary>
    private const int MaxBatch = 256;

    private readonly Channel<Request> _queue = Channel.CreateUnbounded<Request>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Lock _start = new();
    private Task? _loop;

    /// <summary>
    /// Takes the client's permit and, when <paramref name="signUp"/> is given, the address's permit, then
    /// stores the sign-up; completes after the commit. Without a sign-up (an address refused, a honeypot) only
    /// the client's permit is taken, so a flood of bad requests counts against its sender all the same.
    /// </summary>
    public Task<MailPermit> SubmitAsync(RateLimit perClient, string client, RateLimit perAddress, SignUp? signUp)
    {
        var request = new Request(perClient, client, perAddress, signUp);
        lock (_start)
        {
            _loop ??= Task.Run(RunAsync);
        }

        if (!_queue.Writer.TryWrite(request))
        {
            throw new ObjectDisposedException(nameof(SignUpWriter));
        }

        return request.Done.Task;
    }

    private async Task RunAsync()
    {
        var batch = new List<Request>(MaxBatch);
        AsyncServiceScope? scope = null;
        try
        {
            while (await _queue.Reader.WaitToReadAsync())
            {
                while (batch.Count < MaxBatch && _queue.Reader.TryRead(out var request))
                {
                    batch.Add(request);
                }

                try
                {
                    scope ??= scopes.CreateAsyncScope();
                    var permits = await WriteAsync(scope.Value.ServiceProvider, batch);
                    for (var i = 0; i < batch.Count; i++)
                    {
                        batch[i].Done.TrySetResult(permits[i]);
                    }

                    if (batch.Exists(r => r.SignUp is not null))
                    {
                        signal.Set();
                    }
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    // Each request answers with an error (the visitor sees the error page and can try again); a
                    // fresh context and connection serve the next batch.
                    logger.LogError(e, "Could not store {Count} sign-ups", batch.Count);
                    foreach (var request in batch)
                    {
                        request.Done.TrySetException(new InvalidOperationException("The sign-up could not be stored.", e));
                    }

                    if (scope is { } broken)
                    {
                        await broken.DisposeAsync();
                    }

                    scope = null;
                }

                batch.Clear();
            }
        }
        finally
        {
            if (scope is { } last)
            {
                await last.DisposeAsync();
            }
        }
    }

    private static async Task<MailPermit[]> WriteAsync(IServiceProvider services, List<Request> batch)
    {
        var db = services.GetRequiredService<AppDbContext>();
        var limiter = services.GetRequiredService<SharedRateLimiter>();
        var permits = new MailPermit[batch.Count];
        // Not the request's token: once in a batch, a request's permit and sign-up are written with the rest
        // even if its visitor went away, so what is counted is what is stored.
        var ct = CancellationToken.None;
        using (await services.GetRequiredService<NewReaderQueue>().WaitAsync(ct))
        {
            await using var tx = await db.Database.BeginTransactionAsync(ct);
            for (var i = 0; i < batch.Count; i++)
            {
                var r = batch[i];
                // Each request's statements run under its own trace, so a trace of the request shows its
                // share of the commit, and what each request costs can be told apart per request.
                Activity.Current = r.Activity;
                if (!await limiter.TryAcquireInBatchAsync(r.PerClient, r.Client, ct))
                {
                    permits[i] = MailPermit.ClientLimited;
                }
                else if (r.SignUp is null)
                {
                    permits[i] = MailPermit.Granted;
                }
                else if (!await limiter.TryAcquireInBatchAsync(r.PerAddress, Subscriber.KeyOf(r.SignUp.Email), ct))
                {
                    permits[i] = MailPermit.AddressLimited;
                }
                else
                {
                    db.SignUps.Add(r.SignUp);
                    permits[i] = MailPermit.Granted;
                }
            }

            Activity.Current = null;
            await limiter.PruneDueAsync(ct);
            // The sign-ups of the whole batch in one save: EF sends them as one batch of inserts.
            await db.SaveChangesAsync(ct);
            await tx.CommitAsync(ct);
        }

        db.ChangeTracker.Clear();
        return permits;
    }

    public async ValueTask DisposeAsync()
    {
        // What is queued is still written: those visitors are waiting for their answer.
        _queue.Writer.TryComplete();
        Task? loop;
        lock (_start)
        {
            loop = _loop;
        }

        if (loop is not null)
        {
            await loop.WaitAsync(TimeSpan.FromSeconds(30));
        }
    }

    private sealed record Request(RateLimit PerClient, string Client, RateLimit PerAddress, SignUp? SignUp)
    {
        public Activity? Activity { get; } = Activity.Current;

        public TaskCompletionSource<MailPermit> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}

/// <summary>Wakes this node's <see cref="SignUpDispatcher"/> when the writer stored sign-ups (an auto-reset event).</summary>
public sealed class SignUpSignal
{
    private readonly Channel<bool> _signal = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

    public void Set() => _signal.Writer.TryWrite(true);

    /// <summary>Waits for a signal or <paramref name="timeout"/>, whichever comes first.</summary>
    public async Task WaitAsync(TimeSpan timeout, CancellationToken ct)
    {
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(ct);
        wait.CancelAfter(timeout);
        try
        {
            await _signal.Reader.ReadAsync(wait.Token);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            // The timeout: look anyway, for sign-ups other nodes stored and left.
        }
    }
}
