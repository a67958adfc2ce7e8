using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
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
/// The batch takes each request's per-client permit and stores each sign-up that got one, in request order, in
/// one transaction: the count holds for every node together, and the answer the visitor gets says the sign-up is
/// on disk. A process killed at any moment after the answer loses no sign-up; one killed before it never told
/// anyone "check your inbox". The work that depends on the address happens later, in <see cref="SignUpDispatcher"/>,
/// its hourly per-address limit too, so this path does the same for every address and can't be timed. (That
/// limit was counted here until 2026-12-06: a window row per new address, each on a random page of its index,
/// was most of what a commit wrote to SQLite's WAL, about 15 KB a sign-up.)
/// The writer has a thread of its own and runs its batches synchronously (SQLite's calls are synchronous
/// anyway): as a thread-pool loop, each wake-up queued behind the requests it was to answer, and under a flood
/// that wait, not the commit, set the slowest answers.
/// </remarks>
public sealed class SignUpWriter(IServiceScopeFactory scopes, SignUpSignal signal, IOptions<SubscriptionOptions> options, ILogger<SignUpWriter> logger) : IAsyncDisposable
{
    /// <summary>Enough to drain a burst in one commit, few enough that one commit stays short.</summary>
    private const int MaxBatch = 256;

    private readonly Channel<Request> _queue = Channel.CreateUnbounded<Request>(new UnboundedChannelOptions { SingleReader = true });
    private readonly SemaphoreSlim _queued = new(0);
    private readonly Lock _start = new();
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Thread? _thread;

    /// <summary>
    /// Takes the client's permit (<see cref="SubscriptionOptions.PerIpPerMinute"/>) and, when it got one, stores
    /// <paramref name="signUp"/>; completes after the commit. A request without a sign-up (an address refused, a
    /// honeypot) takes the client's permit all the same, so a flood of bad requests counts against its sender.
    /// </summary>
    public Task<MailPermit> SubmitAsync(string client, SignUp? signUp)
    {
        var request = new Request(client, signUp);
        if (!_queue.Writer.TryWrite(request))
        {
            throw new ObjectDisposedException(nameof(SignUpWriter));
        }

        lock (_start)
        {
            if (_thread is null)
            {
                // Unsafe: without the first request's execution context, which would otherwise stay with the
                // thread (its HttpContext, its trace) for the life of the process.
                _thread = new Thread(Run) { IsBackground = true, Name = "Sign-up writer" };
                _thread.UnsafeStart();
            }
        }

        _queued.Release();
        return request.Done.Task;
    }

    private void Run()
    {
        var batch = new List<Request>(MaxBatch);
        AsyncServiceScope? scope = null;
        try
        {
            while (true)
            {
                _queued.Wait();
                while (batch.Count < MaxBatch && _queue.Reader.TryRead(out var request))
                {
                    batch.Add(request);
                }

                if (batch.Count == 0)
                {
                    if (_queue.Reader.Completion.IsCompleted)
                    {
                        break;
                    }

                    continue;
                }

                try
                {
                    scope ??= scopes.CreateAsyncScope();
                    var permits = WriteAsync(scope.Value.ServiceProvider, options.Value.PerIpLimit, batch).GetAwaiter().GetResult();
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
                        broken.DisposeAsync().AsTask().GetAwaiter().GetResult();
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
                last.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }

            _stopped.TrySetResult();
        }
    }

    private static async Task<MailPermit[]> WriteAsync(IServiceProvider services, RateLimit perClient, List<Request> batch)
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
            // The batch's statements show in the trace of the request that waited longest; the others' spans
            // cover their wait for the commit. Set inside this async method, it ends with it.
            Activity.Current = batch[0].Activity;
            var stored = new List<SignUp>(batch.Count);
            // One statement for the batch; a client with several requests in it gets its permits in request order.
            var ofClients = await limiter.TryAcquireEachAsync(perClient, batch.ConvertAll(r => (string?)r.Client), ct);
            for (var i = 0; i < batch.Count; i++)
            {
                permits[i] = ofClients[i] ? MailPermit.Granted : MailPermit.ClientLimited;
                if (ofClients[i] && batch[i].SignUp is { } signUp)
                {
                    stored.Add(signUp);
                }
            }

            await limiter.PruneDueAsync(ct);
            await InsertAsync(db, stored, ct);
            await tx.CommitAsync(ct);
        }

        return permits;
    }

    /// <summary>
    /// The batch's sign-ups as one multi-row INSERT: EF's save cost about 90 µs a row here (its change tracker
    /// and a statement per row), most of this writer's time per request, and nothing reads the rows back.
    /// Through EF's raw SQL, so values are typed by its mappings and the statement shows in its diagnostics.
    /// </summary>
    private static async Task InsertAsync(AppDbContext db, List<SignUp> signUps, CancellationToken ct)
    {
        if (signUps.Count == 0)
        {
            return;
        }

        var values = new object?[5 * signUps.Count];
        for (var i = 0; i < signUps.Count; i++)
        {
            var s = signUps[i];
            (values[5 * i], values[(5 * i) + 1], values[(5 * i) + 2], values[(5 * i) + 3], values[(5 * i) + 4]) = (s.Email, s.Name, s.Source, s.Topics, s.ReceivedAt);
        }

        await db.Database.ExecuteSqlRawAsync(InsertSql(db.Model, signUps.Count), values!, ct);
    }

    /// <summary>Names come from the EF model, as the rate limiter's do; a new sign-up has not been attempted yet.</summary>
    private static string InsertSql(Microsoft.EntityFrameworkCore.Metadata.IModel model, int rows)
    {
        var entity = model.FindEntityType(typeof(SignUp))!;
        string Column(string property) => "\"" + entity.FindProperty(property)!.GetColumnName() + "\"";
        var sql = new System.Text.StringBuilder("INSERT INTO \"").Append(entity.GetTableName()).Append("\" (")
            .AppendJoin(", ", new[] { nameof(SignUp.Email), nameof(SignUp.Name), nameof(SignUp.Source), nameof(SignUp.Topics), nameof(SignUp.ReceivedAt), nameof(SignUp.Attempts) }.Select(Column))
            .Append(") VALUES ");
        for (var i = 0; i < rows; i++)
        {
            var v = 5 * i;
            sql.Append(i == 0 ? "" : ", ").Append($"({{{v}}}, {{{v + 1}}}, {{{v + 2}}}, {{{v + 3}}}, {{{v + 4}}}, 0)");
        }

        return sql.ToString();
    }

    public async ValueTask DisposeAsync()
    {
        // What is queued is still written: those visitors are waiting for their answer.
        _queue.Writer.TryComplete();
        _queued.Release();
        bool started;
        lock (_start)
        {
            started = _thread is not null;
        }

        if (started)
        {
            await _stopped.Task.WaitAsync(TimeSpan.FromSeconds(30));
        }
    }

    private sealed record Request(string Client, SignUp? SignUp)
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
