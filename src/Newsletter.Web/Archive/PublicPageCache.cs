using System.Collections.Concurrent;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.ResponseCompression;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;
using Newsletter.Web.Content;

namespace Newsletter.Web.Archive;

/// <summary>
/// Public pages as they were last sent to an anonymous reader, bytes and headers together, answered at the very
/// front of the pipeline: before routing, authentication, the output cache and the per-request header callbacks.
/// A cached archive page spent about a third of the app's own CPU in those (README, "s3"), and a page that was
/// fit for the output cache is, byte for byte, what the next anonymous reader gets anyway.
/// <para>
/// Only what the full pipeline already decided was public is kept: a 200 for a <see cref="PublicContentMetadata"/>
/// endpoint, to a GET with neither credentials nor the author's cookie, that set no cookie, with its validators. Anything
/// else, a signed-in author, a HEAD, search, goes through the whole pipeline as before (where the output cache
/// still serves it). Entries are keyed by the node's content generation like the output cache's, so a change that
/// evicts that one makes every entry here unreachable too; they also expire after <see cref="ArchiveOptions.CacheDuration"/>,
/// and their bytes are capped by <see cref="ArchiveOptions.PageCacheBytes"/> so junk query values cannot grow memory.
/// </para>
/// </summary>
public sealed class PublicPageCache
{
    // Not replayed: the server writes its own date and length, and these would be wrong or meaningless on a later answer.
    private static readonly HashSet<string> NotStored = new(StringComparer.OrdinalIgnoreCase)
    {
        HeaderNames.Date, HeaderNames.ContentLength, HeaderNames.TransferEncoding, HeaderNames.Connection,
        HeaderNames.KeepAlive, HeaderNames.Age, HeaderNames.SetCookie,
    };

    private readonly ContentCaches _caches;
    private readonly IResponseCompressionProvider _compression;
    private readonly ArchiveOptions _options;
    private readonly string _authCookie;
    private readonly Lock _sweepLock = new();
    private State _state;
    private long _lastSweep;
    private long _hits;

    public PublicPageCache(ContentCaches caches, IResponseCompressionProvider compression, IOptions<ArchiveOptions> options, IOptionsMonitor<CookieAuthenticationOptions> cookies)
    {
        _caches = caches;
        _compression = compression;
        _options = options.Value;
        // Identity's sign-in cookie; a large one is split into name + "C1", "C2"..., so the name is matched as a prefix.
        _authCookie = cookies.Get(IdentityConstants.ApplicationScheme).Cookie.Name ?? ".AspNetCore." + IdentityConstants.ApplicationScheme;
        _state = new State(caches.Generation);
    }

    /// <summary>Answers served from here since start; for the tests and the benchmark's explanation, not a promise.</summary>
    public long Hits => Interlocked.Read(ref _hits);

    public int Count => Volatile.Read(ref _state).Entries.Count;

    public long Bytes => Interlocked.Read(ref Volatile.Read(ref _state).Bytes);

    /// <summary>The middleware: answers a stored page, or lets the pipeline render one and keeps it if it may.</summary>
    public Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        if (_options.PageCacheBytes <= 0 || KeyFor(context) is not { } key)
        {
            return next(context);
        }

        var generation = _caches.Generation;
        var state = Current(generation);
        if (state.Entries.TryGetValue(key, out var entry))
        {
            if (Environment.TickCount64 < entry.ExpiresAt)
            {
                Interlocked.Increment(ref _hits);
                return ServeAsync(context, entry);
            }

            Remove(state, key, entry);
        }

        return RenderAndKeepAsync(context, next, key, generation);
    }

    private static Task ServeAsync(HttpContext context, Entry entry)
    {
        // The endpoint the page came from, so the request metrics name its route as on any other answer.
        context.SetEndpoint(entry.Endpoint);
        var response = context.Response;
        var headers = response.Headers;
        var request = context.Request.Headers;
        // A reader's browser asks again on every visit (Cache-Control: no-cache) with the validators it was given,
        // and gets the pipeline's answer to that: 304 and the page's headers, without the body and its own headers.
        if ((!StringValues.IsNullOrEmpty(request.IfNoneMatch) || !StringValues.IsNullOrEmpty(request.IfModifiedSince))
            && ConditionalGetMiddleware.IsNotModified(context.Request, entry.ETag, entry.LastModified))
        {
            response.StatusCode = StatusCodes.Status304NotModified;
            foreach (var (name, value) in entry.Headers)
            {
                if (!IsContentHeader(name))
                {
                    headers[name] = value;
                }
            }

            return Task.CompletedTask;
        }

        response.StatusCode = StatusCodes.Status200OK;
        foreach (var (name, value) in entry.Headers)
        {
            headers[name] = value;
        }

        response.ContentLength = entry.Body.Length;
        return response.Body.WriteAsync(entry.Body, context.RequestAborted).AsTask();
    }

    private static bool IsContentHeader(string name) => name.StartsWith("Content-", StringComparison.OrdinalIgnoreCase) && !name.Equals(HeaderNames.ContentSecurityPolicy, StringComparison.OrdinalIgnoreCase);

    private async Task RenderAndKeepAsync(HttpContext context, RequestDelegate next, Key key, long generation)
    {
        var bodyFeature = context.Features.GetRequiredFeature<IHttpResponseBodyFeature>();
        // A page bigger than a quarter of the budget would crowd out the rest; it is served, not kept.
        var capture = new CaptureStream(context, bodyFeature.Stream, (int)Math.Min(_options.PageCacheBytes / 4, 4 * 1024 * 1024));
        context.Features.Set<IHttpResponseBodyFeature>(new StreamResponseBodyFeature(capture, bodyFeature));
        try
        {
            await next(context);
        }
        finally
        {
            context.Features.Set(bodyFeature);
        }

        var response = context.Response;
        if (capture.Dropped
            || response.StatusCode != StatusCodes.Status200OK
            || context.GetEndpoint() is not { } endpoint
            || endpoint.Metadata.GetMetadata<PublicContentMetadata>() is null
            || context.User.Identity?.IsAuthenticated == true
            || !StringValues.IsNullOrEmpty(response.Headers.SetCookie)
            || (response.ContentLength is { } length && length != capture.Captured)
            || context.RequestAborted.IsCancellationRequested)
        {
            return;
        }

        // Every public page carries both validators (ConditionalGetMiddleware); one without them is not kept.
        if (!EntityTagHeaderValue.TryParse(response.Headers.ETag.ToString(), out var etag)
            || !HeaderUtilities.TryParseDate(response.Headers.LastModified.ToString(), out var lastModified))
        {
            return;
        }

        var headers = new List<KeyValuePair<string, StringValues>>(response.Headers.Count);
        foreach (var header in response.Headers)
        {
            if (!NotStored.Contains(header.Key))
            {
                headers.Add(header);
            }
        }

        var body = capture.ToArray();
        KeyValuePair<string, StringValues>[] kept = [.. headers];
        Keep(key, new Entry(body, kept, endpoint, etag, lastModified.UtcDateTime, Environment.TickCount64 + (long)_options.CacheDuration.TotalMilliseconds, SizeOf(key, body, kept)), generation);
    }

    private void Keep(Key key, Entry entry, long generation)
    {
        // Rendered under an older generation: the content may have changed while the page was made, so it is not kept.
        var state = Volatile.Read(ref _state);
        if (state.Generation != generation || _caches.Generation != generation)
        {
            return;
        }

        if (Interlocked.Add(ref state.Bytes, entry.Size) > _options.PageCacheBytes)
        {
            Interlocked.Add(ref state.Bytes, -entry.Size);
            Sweep(state);
            return;
        }

        if (state.Entries.TryGetValue(key, out var old))
        {
            Remove(state, key, old);
        }

        if (!state.Entries.TryAdd(key, entry))
        {
            Interlocked.Add(ref state.Bytes, -entry.Size);
        }
    }

    /// <summary>The budget is full: expired entries make room, at most once a minute, so a full cache costs no scan per miss.</summary>
    private void Sweep(State state)
    {
        var now = Environment.TickCount64;
        lock (_sweepLock)
        {
            if (now - _lastSweep < 60_000)
            {
                return;
            }

            _lastSweep = now;
        }

        foreach (var (key, entry) in state.Entries)
        {
            if (entry.ExpiresAt <= now)
            {
                Remove(state, key, entry);
            }
        }
    }

    private static void Remove(State state, Key key, Entry entry)
    {
        if (state.Entries.TryRemove(new KeyValuePair<Key, Entry>(key, entry)))
        {
            Interlocked.Add(ref state.Bytes, -entry.Size);
        }
    }

    /// <summary>This generation's entries; a newer generation starts empty and lets the old ones go to the collector.</summary>
    private State Current(long generation)
    {
        var state = Volatile.Read(ref _state);
        while (state.Generation < generation)
        {
            var fresh = new State(generation);
            var seen = Interlocked.CompareExchange(ref _state, fresh, state);
            state = seen == state ? fresh : seen;
        }

        return state;
    }

    /// <summary>The request's key, or null when it must go through the pipeline: not a plain anonymous GET of a page.</summary>
    private Key? KeyFor(HttpContext context)
    {
        var request = context.Request;
        if (!HttpMethods.IsGet(request.Method))
        {
            return null;
        }

        var headers = request.Headers;
        if (!StringValues.IsNullOrEmpty(headers.Authorization) || SignedIn(headers.Cookie))
        {
            return null;
        }

        string? page = null, tag = null;
        if (request.QueryString.HasValue)
        {
            var query = request.Query;
            // Search keys are the reader's own words: each would be an entry, so search stays with the output cache.
            if (query.ContainsKey("q"))
            {
                return null;
            }

            page = query.ContainsKey("page") ? PublicContent.PageKey(query["page"]) : null;
            tag = query["tag"];
        }

        // Not keyed by Host: pages name the site by Site:BaseUrl, never by the request's Host, and a key per Host
        // value would let anyone fill the cache with copies by sending made-up ones.
        return new Key(request.Scheme, "", request.PathBase.Value + request.Path.Value, page == "1" ? null : page, tag, PublicContentPolicy.EncodingOf(_compression, context));
    }

    private bool SignedIn(StringValues cookies)
    {
        foreach (var header in cookies)
        {
            if (header?.Contains(_authCookie, StringComparison.Ordinal) == true)
            {
                return true;
            }
        }

        return false;
    }

    private readonly record struct Key(string Scheme, string Host, string Path, string? Page, string? Tag, string Encoding);

    /// <param name="Size">What the entry and its key hold, roughly (see <see cref="SizeOf"/>), counted once against the budget.</param>
    private sealed record Entry(byte[] Body, KeyValuePair<string, StringValues>[] Headers, Endpoint Endpoint, EntityTagHeaderValue ETag, DateTime LastModified, long ExpiresAt, long Size);

    /// <summary>The body, the key's strings and the headers' (two bytes a char), and a little for the objects around them.</summary>
    private static long SizeOf(Key key, byte[] body, KeyValuePair<string, StringValues>[] headers) =>
        body.Length + 2L * (key.Path.Length + key.Host.Length + (key.Page?.Length ?? 0) + (key.Tag?.Length ?? 0))
        + headers.Sum(h => 2L * (h.Key.Length + h.Value.ToString().Length)) + 256;

    private sealed class State(long generation)
    {
        public readonly long Generation = generation;
        public readonly ConcurrentDictionary<Key, Entry> Entries = new();
        public long Bytes;
    }

    /// <summary>
    /// Writes through to the response and keeps a copy, up to a limit past which it stops copying. Only a public
    /// page's bytes are copied: routing has chosen the endpoint by the first write, so an image, a login page or an
    /// export passes straight through without a copy that would be thrown away.
    /// </summary>
    private sealed class CaptureStream(HttpContext context, Stream inner, int limit) : Stream
    {
        private readonly MemoryStream _copy = new();
        private bool _checked;

        /// <summary>Nothing kept: not a public page, or past the limit.</summary>
        public bool Dropped { get; private set; }

        public long Captured => _copy.Length;

        public byte[] ToArray() => _copy.ToArray();

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Write(byte[] buffer, int offset, int count)
        {
            Keep(buffer.AsSpan(offset, count));
            inner.Write(buffer, offset, count);
        }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Keep(buffer.Span);
            await inner.WriteAsync(buffer, cancellationToken);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush() => inner.Flush();

        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        private void Keep(ReadOnlySpan<byte> bytes)
        {
            if (!_checked)
            {
                _checked = true;
                Dropped = context.GetEndpoint()?.Metadata.GetMetadata<PublicContentMetadata>() is null;
            }

            if (Dropped)
            {
                return;
            }

            if (_copy.Length + bytes.Length > limit)
            {
                Dropped = true;
                _copy.SetLength(0);
                return;
            }

            _copy.Write(bytes);
        }
    }
}
