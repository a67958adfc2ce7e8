using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Hangfire;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Web.Data;
using Newsletter.Web.Data.Providers;
using Newsletter.Web.Site;
using Newsletter.Web.Subscribers;

namespace Newsletter.Web.Webhooks;

/// <summary>What one POST came to.</summary>
public sealed record WebhookAttempt(bool Delivered, int? StatusCode, string? ResponseBody, int DurationMs, string? Error);

/// <summary>
/// The Hangfire job that delivers due webhook rows: it claims a batch with a lease (a conditional update, so
/// two nodes never take the same row), sends each row, and writes each outcome as soon as it is known, only
/// while it still holds the row. A node killed mid-batch leaves its rows Sending; when the lease runs out
/// another job takes them and sends them again with the same <c>webhook-id</c>, which is how a receiver
/// tells a repeat. Events of one reader, issue or note go one after another, in the order they happened;
/// different ones go in parallel, so an import of a million readers is a stream of POSTs at
/// <see cref="WebhookOptions.Parallelism"/> at a time, never a million jobs or one request per import row.
/// Rows are claimed as POSTs finish, not batch by batch, and an endpoint holding half the POSTs in flight gets no
/// more until one ends: a receiver that hangs until every timeout slows its own deliveries, not everyone's.
/// </summary>
public sealed class WebhookDispatcher(IServiceScopeFactory scopes, WebhookSql sql, IHttpClientFactory http, WebhookSignal signal, IOptions<WebhookOptions> options, IOptions<SiteOptions> site, TimeProvider clock, ILogger<WebhookDispatcher> logger)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>Delivers until nothing is due or a minute has passed; the pump starts another job if work is left.</summary>
    [AutomaticRetry(Attempts = 0)]
    public async Task RunAsync(CancellationToken ct)
    {
        using var running = signal.Started();
        var owner = Guid.NewGuid().ToString("N");
        var stopAt = clock.GetUtcNow() + TimeSpan.FromMinutes(1);
        var parallelism = options.Value.Parallelism;
        var share = Math.Max(1, parallelism / 2);
        var sending = new List<(Task Task, int Endpoint)>();
        try
        {
            while (true)
            {
                var claimed = 0;
                var free = parallelism - sending.Count;
                if (free > 0 && clock.GetUtcNow() < stopAt && !ct.IsCancellationRequested)
                {
                    int[] busy = [.. sending.GroupBy(s => s.Endpoint).Where(g => g.Count() >= share).Select(g => g.Key)];
                    var batch = await ClaimAsync(owner, Math.Min(Math.Min(free, share), options.Value.BatchSize), busy, ct);
                    foreach (var group in batch.GroupBy(d => (d.EndpointId, d.SubscriberId, d.IssueId, d.NoteId)))
                    {
                        sending.Add((DeliverInOrderAsync([.. group.OrderBy(d => d.Id)], owner, ct), group.Key.EndpointId));
                    }

                    claimed = batch.Count;
                }

                if (sending.Count == 0)
                {
                    return;
                }

                // Claim again at once while there was work and room; otherwise wait for a POST to end (it frees a slot,
                // and the next event of its reader may now be in turn). With room left, look again after the poll
                // interval too: an event that arrives meanwhile is due now, and waiting for a POST alone held it
                // behind a hanging endpoint's calls for up to Webhooks:Timeout (the pump starts no second job here
                // while this one runs).
                if (sending.Count >= parallelism || ct.IsCancellationRequested || clock.GetUtcNow() >= stopAt)
                {
                    await Task.WhenAny(sending.Select(s => s.Task));
                }
                else if (claimed == 0)
                {
                    await Task.WhenAny(sending.Select(s => s.Task).Append(Task.Delay(options.Value.PollInterval, clock, ct)));
                }

                foreach (var done in sending.Where(s => s.Task.IsCompleted).ToList())
                {
                    sending.Remove(done);
                    await done.Task; // a failure (the database gone) ends the job, after the others below
                }
            }
        }
        finally
        {
            // Nothing is left running when the job ends, whichever way: each POST records its own outcome.
            await Task.WhenAll(sending.Select(s => s.Task)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    private async Task DeliverInOrderAsync(List<WebhookDelivery> group, string owner, CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        foreach (var row in group)
        {
            await DeliverAsync(db, row, owner, ct);
        }
    }

    private async Task<List<WebhookDelivery>> ClaimAsync(string owner, int max, int[] busy, CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var ids = new List<long>();
        await using (var tx = await db.Database.BeginTransactionAsync(ct))
        {
            await using var claim = db.Command(tx, sql.Claim, ("@owner", owner), ("@now", now), ("@until", now + (long)options.Value.LeaseDuration.TotalMilliseconds),
                ("@max", max), ("@pending", (int)WebhookDeliveryStatus.Pending), ("@sending", (int)WebhookDeliveryStatus.Sending), ("@busy", sql.Busy(busy)));
            await using (var reader = await claim.ExecuteReaderAsync(ct))
            {
                while (await reader.ReadAsync(ct))
                {
                    ids.Add(reader.GetInt64(0));
                }
            }

            await tx.CommitAsync(ct);
        }

        return ids.Count == 0 ? [] : await db.WebhookDeliveries.AsNoTracking().Where(d => ids.Contains(d.Id)).ToListAsync(ct);
    }

    /// <summary>Sends one claimed row (or a "send again" row an author asked for) and records the outcome.</summary>
    private async Task DeliverAsync(AppDbContext db, WebhookDelivery row, string owner, CancellationToken ct)
    {
        var endpoint = await db.WebhookEndpoints.AsNoTracking().FirstOrDefaultAsync(e => e.Id == row.EndpointId, ct);
        if (endpoint is null)
        {
            return; // deleted since the claim: its rows went with it
        }

        var payload = row.Payload ?? await WritePayloadAsync(db, row, ct);
        var attempt = endpoint.Enabled
            ? await PostAsync(endpoint, row.WebhookId, payload, ct)
            : new WebhookAttempt(false, null, null, 0, "endpoint disabled");
        await RecordAsync(db, row, owner, attempt, ct);
    }

    public async Task<WebhookAttempt> PostAsync(WebhookEndpoint endpoint, string id, string payload, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var timestamp = now.ToUnixTimeSeconds();
        var url = new Uri(endpoint.Url);
        using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new StringContent(payload, Encoding.UTF8, "application/json") };
        if (url.UserInfo.Length > 0)
        {
            // HttpClient sends nothing of a URL's user:password, so a receiver behind Basic authentication (as
            // Postmark's and Mailgun's webhook URLs allow) answered 401 to every event. It is sent as that header.
            var parts = url.UserInfo.Split(':', 2);
            var credential = Uri.UnescapeDataString(parts[0]) + ":" + (parts.Length > 1 ? Uri.UnescapeDataString(parts[1]) : "");
            request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(credential)));
        }

        request.Headers.Add("webhook-id", id);
        request.Headers.Add("webhook-timestamp", timestamp.ToString(System.Globalization.CultureInfo.InvariantCulture));
        request.Headers.Add("webhook-signature", WebhookSigner.Header(endpoint, now.UtcDateTime, id, timestamp, payload));
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));

        // The timeout covers the whole exchange, body included: a receiver that trickles its answer is as slow as one that never answers.
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(options.Value.Timeout);
        var watch = Stopwatch.StartNew();
        try
        {
            using var response = await http.CreateClient(WebhookHttp.ClientName).SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            var body = await ReadCappedAsync(response.Content, timeout.Token);
            var code = (int)response.StatusCode;
            var ok = code is >= 200 and < 300;
            return new WebhookAttempt(ok, code, body, (int)watch.ElapsedMilliseconds, ok ? null : $"HTTP {code}{(code is >= 300 and < 400 ? " (redirects are not followed)" : "")}");
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return new WebhookAttempt(false, null, null, (int)watch.ElapsedMilliseconds, $"no answer within {options.Value.Timeout.TotalSeconds:0.#} s");
        }
        catch (HttpRequestException e)
        {
            var refused = e.InnerException as WebhookAddressRefusedException ?? e.InnerException?.InnerException as WebhookAddressRefusedException;
            return new WebhookAttempt(false, null, null, (int)watch.ElapsedMilliseconds, refused?.Message ?? e.Message);
        }
    }

    private static async Task<string> ReadCappedAsync(HttpContent content, CancellationToken ct)
    {
        await using var stream = await content.ReadAsStreamAsync(ct);
        var buffer = new byte[WebhookOptions.KeptResponseChars];
        var read = 0;
        while (read < buffer.Length && await stream.ReadAsync(buffer.AsMemory(read), ct) is var n and > 0)
        {
            read += n;
        }

        // What is beyond the kept part is left unread: the connection is dropped rather than drained.
        var text = Encoding.UTF8.GetString(buffer, 0, read);
        return text.Length > WebhookOptions.KeptResponseChars ? text[..WebhookOptions.KeptResponseChars] : text;
    }

    private async Task RecordAsync(AppDbContext db, WebhookDelivery row, string owner, WebhookAttempt attempt, CancellationToken ct)
    {
        var o = options.Value;
        var now = clock.GetUtcNow();
        var delay = TimeSpan.FromTicks(Math.Min(o.MaxRetryDelay.Ticks, o.FirstRetryDelay.Ticks * (1L << Math.Min(row.Attempts - 1, 30))));
        // A little jitter, so a receiver that comes back is not hit by every waiting event in the same second.
        delay += TimeSpan.FromTicks((long)(delay.Ticks * 0.2 * Random.Shared.NextDouble()));
        var giveUp = now + delay > row.CreatedAt + o.RetryFor;
        var status = attempt.Delivered ? WebhookDeliveryStatus.Delivered : giveUp ? WebhookDeliveryStatus.Failed : WebhookDeliveryStatus.Pending;
        var next = attempt.Delivered || giveUp ? 0 : (now + delay).ToUnixTimeMilliseconds();
        var error = attempt.Error is { Length: > 1000 } e ? e[..1000] : attempt.Error;
        // Only while this job still holds the row: a job whose lease was taken over writes nothing.
        var written = await db.WebhookDeliveries.Where(d => d.Id == row.Id && d.LeaseOwner == owner && d.Status == WebhookDeliveryStatus.Sending)
            .ExecuteUpdateAsync(u => u
                .SetProperty(d => d.Status, status).SetProperty(d => d.NextAttemptAtMs, next)
                .SetProperty(d => d.LeaseOwner, (string?)null).SetProperty(d => d.LeaseExpiresAtMs, 0L)
                .SetProperty(d => d.ResponseCode, attempt.StatusCode).SetProperty(d => d.ResponseBody, attempt.ResponseBody)
                .SetProperty(d => d.DurationMs, attempt.DurationMs).SetProperty(d => d.LastAttemptAt, now.UtcDateTime)
                .SetProperty(d => d.LastError, error), ct);
        if (written == 0)
        {
            logger.LogWarning("Webhook delivery {Id}: lease lost before its outcome was written; another job sends it again", row.Id);
        }
        else if (status == WebhookDeliveryStatus.Failed)
        {
            logger.LogError("Webhook delivery {Id} ({Type}) to endpoint {Endpoint} failed for good after {Attempts} attempts: {Error}", row.Id, row.EventType, row.EndpointId, row.Attempts, error);
        }
        else if (status == WebhookDeliveryStatus.Pending)
        {
            logger.LogWarning("Webhook delivery {Id} ({Type}) attempt {Attempts} failed: {Error}; next in {Delay}", row.Id, row.EventType, row.Attempts, error, delay);
        }
    }

    /// <summary>
    /// The body, built on the first attempt and kept, so every retry sends the same bytes. Written only while
    /// the reader still exists: an erase between the read and this write must not leave the address behind.
    /// </summary>
    private async Task<string> WritePayloadAsync(AppDbContext db, WebhookDelivery row, CancellationToken ct)
    {
        for (var attempt = 0; attempt < 2; attempt++)
        {
            var payload = await BuildAsync(db, row, ct);
            var written = await db.WebhookDeliveries
                .Where(d => d.Id == row.Id && d.Payload == null && (d.SubscriberId == null || db.Subscribers.Any(s => s.Id == d.SubscriberId)))
                .ExecuteUpdateAsync(u => u.SetProperty(d => d.Payload, payload), ct);
            if (written == 1)
            {
                return payload;
            }

            if (await db.WebhookDeliveries.Where(d => d.Id == row.Id).Select(d => d.Payload).FirstOrDefaultAsync(ct) is { } stored)
            {
                return stored;
            }

            if (attempt == 1 || !await db.Subscribers.AnyAsync(s => s.Id == row.SubscriberId, ct))
            {
                // The reader is gone: the body says only who, and is sent without being kept.
                return await BuildAsync(db, row, ct);
            }
        }

        return await BuildAsync(db, row, ct);
    }

    private async Task<string> BuildAsync(AppDbContext db, WebhookDelivery row, CancellationToken ct)
    {
        object data;
        if (row.SubscriberId is { } subscriberId)
        {
            var s = await db.Subscribers.AsNoTracking().Where(x => x.Id == subscriberId)
                .Select(x => new { x.Id, x.Email, x.Name, x.Status }).FirstOrDefaultAsync(ct);
            data = new
            {
                subscriber = s is null ? (object)new { id = subscriberId } : new { id = s.Id, email = s.Email, name = s.Name, status = s.Status.ToString().ToLowerInvariant() },
                source = row.Source,
            };
        }
        else if (row.IssueId is { } issueId)
        {
            var i = await db.Issues.AsNoTracking().Where(x => x.Id == issueId)
                .Select(x => new { x.Id, x.Number, x.Subject, x.Slug, x.Status, x.ScheduledAt, x.CompletedAt, x.RecipientCount, x.PausedReason }).FirstOrDefaultAsync(ct);
            data = new
            {
                issue = i is null ? (object)new { id = issueId } : new
                {
                    id = i.Id, number = i.Number, subject = i.Subject, status = i.Status.ToString().ToLowerInvariant(), scheduledAt = i.ScheduledAt,
                    completedAt = i.CompletedAt, recipients = i.RecipientCount, pausedReason = i.PausedReason,
                },
            };
        }
        else if (row.NoteId is { } noteId)
        {
            var n = await db.Notes.AsNoTracking().Where(x => x.Id == noteId).Select(x => new { x.Id, x.Slug, x.Title, x.Summary }).FirstOrDefaultAsync(ct);
            data = new { note = n is null ? (object)new { id = noteId } : new { id = n.Id, slug = n.Slug, title = n.Title, summary = n.Summary, url = site.Value.Absolute($"/notes/{n.Slug}") } };
        }
        else
        {
            data = new { };
        }

        return Serialize(row.EventType, row.OccurredAt, data);
    }

    public static string Serialize(string type, DateTime occurredAt, object data) =>
        JsonSerializer.Serialize(new { type, timestamp = DateTime.SpecifyKind(occurredAt, DateTimeKind.Utc), data }, Json);
}

/// <summary>This node's dispatch jobs: how many run here, and whether one was just enqueued, so the pump starts one at a time.</summary>
public sealed class WebhookSignal
{
    private int _running;
    private long _enqueuedAtMs;

    public bool Busy(long nowMs, long patienceMs) => Volatile.Read(ref _running) > 0 || nowMs - Interlocked.Read(ref _enqueuedAtMs) < patienceMs;

    public void Enqueued(long nowMs) => Interlocked.Exchange(ref _enqueuedAtMs, nowMs);

    public IDisposable Started()
    {
        Interlocked.Increment(ref _running);
        Interlocked.Exchange(ref _enqueuedAtMs, 0);
        return new Done(this);
    }

    private sealed class Done(WebhookSignal signal) : IDisposable
    {
        public void Dispose() => Interlocked.Decrement(ref signal._running);
    }
}
