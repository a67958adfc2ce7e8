using System.Security.Cryptography;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.AspNetCore.ResponseCompression;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;
using Newsletter.Web.Content;
using Newsletter.Web.Data;

namespace Newsletter.Web.Archive;

/// <summary>Marks an endpoint as public content: output-cached for anonymous readers and answered with 304 when unchanged.</summary>
public sealed class PublicContentMetadata
{
    public static PublicContentMetadata Instance { get; } = new();
}

/// <summary>
/// The output-cache policy for public pages and feeds. Everything is tagged with ContentChanges.Tag, so
/// a note edit or an issue going out evicts all of it at once, on every node (ContentChanges): lists, tags,
/// feeds, search and the sitemap show the same truth. Signed-in authors, POSTs and anything that sets a cookie are never cached or
/// served from the cache, and only the query keys a page reads are part of the key, so junk parameters
/// cannot fill the cache.
/// </summary>
public sealed class PublicContentPolicy(IOptions<ArchiveOptions> options) : IOutputCachePolicy
{
    public const string Name = "PublicContent";

    // "page" is keyed by the page it means (PublicContent.PageKey), not as sent.
    private static readonly string[] QueryKeys = ["q", "tag"];

    public ValueTask CacheRequestAsync(OutputCacheContext context, CancellationToken cancellation)
    {
        var request = context.HttpContext.Request;
        var cacheable = (HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method))
            && string.IsNullOrEmpty(request.Headers.Authorization)
            && context.HttpContext.User.Identity?.IsAuthenticated != true;
        context.EnableOutputCaching = true;
        context.AllowCacheLookup = cacheable;
        context.AllowCacheStorage = cacheable;
        context.AllowLocking = true;
        context.ResponseExpirationTimeSpan = options.Value.CacheDuration;
        context.CacheVaryByRules.QueryKeys = QueryKeys;
        context.CacheVaryByRules.VaryByValues["page"] = PublicContent.PageKey(request.Query["page"]);
        // Pages name the site by Site:BaseUrl, not the request's Host: made-up Host values must not each get entries.
        context.CacheVaryByRules.VaryByHost = false;
        // Pages are stored compressed (compression runs inside the cache), so the key holds the encoding
        // this request would get: one entry per encoding, and a client that accepts none never gets Brotli.
        // The raw Accept-Encoding header would let junk values fill the cache.
        context.CacheVaryByRules.VaryByValues["encoding"] = EncodingOf(context.HttpContext.RequestServices.GetRequiredService<IResponseCompressionProvider>(), context.HttpContext);
        // Keyed by this node's content generation too: a page rendered from content that changed meanwhile is
        // stored under a generation no later request asks for, so a change never leaves a stale copy behind.
        context.CacheVaryByRules.VaryByValues["content"] = context.HttpContext.RequestServices.GetRequiredService<ContentCaches>().Generation.ToString(System.Globalization.CultureInfo.InvariantCulture);
        context.Tags.Add(ContentChanges.Tag);
        return ValueTask.CompletedTask;
    }

    /// <summary>The encoding compression will give this request, as a cache key: one entry per encoding, never per raw header.</summary>
    internal static string EncodingOf(IResponseCompressionProvider compression, HttpContext context) =>
        compression.GetCompressionProvider(context)?.EncodingName ?? "identity";

    public ValueTask ServeFromCacheAsync(OutputCacheContext context, CancellationToken cancellation) => ValueTask.CompletedTask;

    public ValueTask ServeResponseAsync(OutputCacheContext context, CancellationToken cancellation)
    {
        var response = context.HttpContext.Response;
        if (response.StatusCode != StatusCodes.Status200OK || !StringValues.IsNullOrEmpty(response.Headers.SetCookie))
        {
            context.AllowCacheStorage = false;
        }

        return ValueTask.CompletedTask;
    }
}

/// <summary>
/// ETag and Last-Modified for public content, and 304 for conditional GETs. It runs inside the output
/// cache: a rendered page gets its validators here and is stored with them, and the output cache answers
/// later conditional requests from the stored headers without rendering again.
/// The ETag is a hash of the bytes, so it changes exactly when the page does. It is weak because response
/// compression may re-encode the same page. Last-Modified is the last change to any public content (or the
/// app's start, so a deploy that changes templates is not hidden behind an old date).
/// </summary>
public sealed class ConditionalGetMiddleware(RequestDelegate next)
{
    private static readonly DateTime Started = Truncate(DateTime.UtcNow);

    public async Task InvokeAsync(HttpContext context, AppDbContext db)
    {
        var request = context.Request;
        if (!(HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method))
            || context.GetEndpoint()?.Metadata.GetMetadata<PublicContentMetadata>() is null)
        {
            await next(context);
            return;
        }

        var response = context.Response;
        var original = response.Body;
        using var buffer = new MemoryStream();
        response.Body = buffer;
        try
        {
            await next(context);
        }
        finally
        {
            response.Body = original;
        }

        if (response.StatusCode != StatusCodes.Status200OK)
        {
            buffer.Position = 0;
            await buffer.CopyToAsync(original, context.RequestAborted);
            return;
        }

        var etag = new EntityTagHeaderValue("\"" + Base64Url(SHA256.HashData(buffer.GetBuffer().AsSpan(0, (int)buffer.Length))) + "\"", isWeak: true);
        var changed = Truncate(await PublicContent.LastChangedAsync(db, context.RequestAborted));
        var now = Truncate(DateTime.UtcNow);
        // Never later than now (RFC 9110 8.8.2.1), even if an issue was given a publication time ahead of the clock.
        var lastModified = changed > now ? now : changed > Started ? changed : Started;
        response.Headers.ETag = etag.ToString();
        response.Headers.LastModified = HeaderUtilities.FormatDate(lastModified);
        // Readers and proxies may keep a copy but must ask again: an unpublished note disappears at once.
        response.Headers.CacheControl = "public, no-cache";
        // Every copy says it varies by encoding, the uncompressed one too (compression adds it only where it
        // compresses), so a shared cache never hands a stored plain copy to a browser that asked for Brotli.
        if (!response.Headers.Vary.Any(v => v?.Contains(HeaderNames.AcceptEncoding, StringComparison.OrdinalIgnoreCase) == true))
        {
            response.Headers.Append(HeaderNames.Vary, HeaderNames.AcceptEncoding);
        }

        if (IsNotModified(request, etag, lastModified))
        {
            response.StatusCode = StatusCodes.Status304NotModified;
            response.ContentLength = null;
            response.Headers.ContentType = default;
            return;
        }

        response.ContentLength = buffer.Length;
        buffer.Position = 0;
        await buffer.CopyToAsync(original, context.RequestAborted);
    }

    /// <summary>RFC 9110 13.2.2: If-None-Match wins when present; If-Modified-Since is only read without it.</summary>
    public static bool IsNotModified(HttpRequest request, EntityTagHeaderValue etag, DateTime lastModified)
    {
        var ifNoneMatch = request.Headers.IfNoneMatch;
        if (!StringValues.IsNullOrEmpty(ifNoneMatch))
        {
            return EntityTagHeaderValue.TryParseList(ifNoneMatch, out var tags)
                && tags.Any(t => t.Equals(EntityTagHeaderValue.Any) || t.Compare(etag, useStrongComparison: false));
        }

        return HeaderUtilities.TryParseDate(request.Headers.IfModifiedSince.ToString(), out var since)
            && lastModified <= since.UtcDateTime;
    }

    private static DateTime Truncate(DateTime utc) => new(utc.Ticks - (utc.Ticks % TimeSpan.TicksPerSecond), DateTimeKind.Utc);

    private static string Base64Url(byte[] hash) => Convert.ToBase64String(hash, 0, 16).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
