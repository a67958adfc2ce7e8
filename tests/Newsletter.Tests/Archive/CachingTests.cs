using System.Net;
using System.Net.Http.Headers;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Web.Content;
using Newsletter.Testing;
using Newsletter.Web.Archive;
using static Newsletter.Tests.Archive.ArchiveData;

namespace Newsletter.Tests.Archive;

public class CachingTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static TheoryData<string> PublicUrls => new()
    {
        "/", "/notes", "/notes/cached-note", "/tags", "/tags/cache", "/archive", "/issues/cached-issue", "/search?q=cached",
        "/feeds/issues.rss", "/feeds/notes.atom", "/feeds/notes.json", "/feeds/tags/cache.json", "/sitemap.xml", "/robots.txt",
    };

    private static async Task<NewsletterApp> AppAsync()
    {
        var app = new NewsletterApp();
        app.WriteNote("a.md", Note("Cached note", "cached-note", "2026-01-01", "cache"));
        await AddIssueAsync(app, 1, "Cached issue", Utc(2026, 1, 5), tags: ["cache"]);
        return app;
    }

    [Theory]
    [MemberData(nameof(PublicUrls))]
    public async Task PublicPagesAndFeedsSendValidatorsAndAnswer304WhenUnchanged(string url)
    {
        using var app = await AppAsync();
        var client = app.CreateClient();
        var first = await client.GetAsync(url, Ct);
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        var etag = first.Headers.ETag;
        Assert.NotNull(etag);
        Assert.True(etag.IsWeak);
        var lastModified = first.Content.Headers.LastModified;
        Assert.NotNull(lastModified);

        // Twice: the first conditional request may be rendered, the second is answered from the output cache.
        for (var i = 0; i < 2; i++)
        {
            using var byTag = new HttpRequestMessage(HttpMethod.Get, url);
            byTag.Headers.IfNoneMatch.Add(etag);
            var notModified = await client.SendAsync(byTag, Ct);
            Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);
            Assert.Empty(await notModified.Content.ReadAsByteArrayAsync(Ct));

            using var byDate = new HttpRequestMessage(HttpMethod.Get, url);
            byDate.Headers.IfModifiedSince = lastModified;
            Assert.Equal(HttpStatusCode.NotModified, (await client.SendAsync(byDate, Ct)).StatusCode);
        }

        using var stale = new HttpRequestMessage(HttpMethod.Get, url);
        stale.Headers.IfNoneMatch.Add(new EntityTagHeaderValue("\"something-else\"", true));
        Assert.Equal(HttpStatusCode.OK, (await client.SendAsync(stale, Ct)).StatusCode);

        using var old = new HttpRequestMessage(HttpMethod.Get, url);
        old.Headers.IfModifiedSince = lastModified!.Value.AddDays(-1);
        Assert.Equal(HttpStatusCode.OK, (await client.SendAsync(old, Ct)).StatusCode);
    }

    [Fact]
    public async Task PagesAreServedFromTheCacheUntilContentChangesThenTheEtagMoves()
    {
        using var app = await AppAsync();
        var client = app.CreateClient();
        var before = await client.GetAsync("/archive", Ct);
        var html = await before.Content.ReadAsStringAsync(Ct);
        Assert.Contains("Cached issue", html, StringComparison.Ordinal);

        // Changed behind the app's back (no eviction): readers still get the cached page...
        var issue = await AddIssueAsync(app, 2, "Loudly added", Utc(2026, 1, 9));
        Assert.Contains("Loudly added", await client.GetStringAsync("/archive", Ct), StringComparison.Ordinal);
        await UpdateIssueAsync(app, issue.Id, i => i.Subject = "Renamed quietly", announce: false);
        Assert.DoesNotContain("Renamed quietly", await client.GetStringAsync("/archive", Ct), StringComparison.Ordinal);

        // ...until the change is announced, which evicts every public page and feed at once.
        await UpdateIssueAsync(app, issue.Id, i => i.Subject = "Renamed loudly");
        var after = await client.GetAsync("/archive", Ct);
        Assert.Contains("Renamed loudly", await after.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.NotEqual(before.Headers.ETag, after.Headers.ETag);
        Assert.Contains("Renamed loudly", await client.GetStringAsync("/feeds/issues.json", Ct), StringComparison.Ordinal);

        using var conditional = new HttpRequestMessage(HttpMethod.Get, "/archive");
        conditional.Headers.IfNoneMatch.Add(before.Headers.ETag!);
        Assert.Equal(HttpStatusCode.OK, (await client.SendAsync(conditional, Ct)).StatusCode);
    }

    [Theory]
    [InlineData("/archive")]
    [InlineData("/notes/cached-note")]
    [InlineData("/feeds/notes.atom")]
    public async Task CachedPagesAreStoredPerEncodingAndAClientThatAcceptsNoneGetsPlainBytes(string url)
    {
        using var app = await AppAsync();
        var client = app.CreateClient();
        async Task<(HttpResponseMessage Response, string Body)> GetAsync(string? acceptEncoding)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, url);
            if (acceptEncoding is not null)
            {
                request.Headers.TryAddWithoutValidation("Accept-Encoding", acceptEncoding);
            }

            var response = await client.SendAsync(request, Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var bytes = await response.Content.ReadAsByteArrayAsync(Ct);
            Stream body = new MemoryStream(bytes);
            body = response.Content.Headers.ContentEncoding.SingleOrDefault() switch
            {
                "br" => new System.IO.Compression.BrotliStream(body, System.IO.Compression.CompressionMode.Decompress),
                "gzip" => new System.IO.Compression.GZipStream(body, System.IO.Compression.CompressionMode.Decompress),
                null => body,
                var other => throw new InvalidOperationException($"unexpected encoding {other}"),
            };
            using var reader = new StreamReader(body);
            return (response, await reader.ReadToEndAsync(Ct));
        }

        // Brotli first, so a cache that ignored the encoding would hand its Brotli bytes to everyone after.
        var brotli = await GetAsync("gzip, deflate, br");
        Assert.Equal(["br"], brotli.Response.Content.Headers.ContentEncoding);
        var plain = await GetAsync(null);
        Assert.Empty(plain.Response.Content.Headers.ContentEncoding);
        // Both copies say they vary by encoding, once.
        Assert.Equal(["Accept-Encoding"], plain.Response.Headers.Vary);
        Assert.Equal(["Accept-Encoding"], brotli.Response.Headers.Vary);
        var gzip = await GetAsync("gzip");
        Assert.Equal(["gzip"], gzip.Response.Content.Headers.ContentEncoding);
        var junk = await GetAsync("x-unknown;q=1, identity;q=0.5");
        Assert.Empty(junk.Response.Content.Headers.ContentEncoding);
        Assert.Equal(plain.Body, brotli.Body);
        Assert.Equal(plain.Body, gzip.Body);
        Assert.Equal(plain.Body, junk.Body);

        // Hits come from the stored copies: the same compressed bytes again, and the same validators.
        var again = await GetAsync("gzip, deflate, br");
        Assert.Equal(brotli.Body, again.Body);
        Assert.Equal(plain.Response.Headers.ETag, again.Response.Headers.ETag);

        // A change evicts every encoding's copy: the new issue shows in the archive whichever encoding the
        // reader's client takes, and both copies of the other pages still agree.
        await AddIssueAsync(app, 2, "Evicts every copy", Utc(2026, 1, 9));
        var archive = url == "/archive";
        var afterBrotli = await GetAsync("br");
        var afterPlain = await GetAsync(null);
        Assert.Equal(afterPlain.Body, afterBrotli.Body);
        Assert.Equal(archive, afterBrotli.Body.Contains("Evicts every copy", StringComparison.Ordinal));
    }

    public static TheoryData<string, string?> FrontUrls => new()
    {
        { "/", null }, { "/archive", "br" }, { "/archive", null }, { "/notes/cached-note", "gzip" }, { "/tags/cache", null },
        { "/issues/cached-issue", "br" }, { "/feeds/notes.atom", null }, { "/sitemap.xml", "gzip" }, { "/robots.txt", null },
    };

    [Theory]
    [MemberData(nameof(FrontUrls))]
    public async Task AnAnonymousReadersSecondVisitIsAnsweredFromTheFrontWithTheSameBytesAndHeaders(string url, string? acceptEncoding)
    {
        using var app = await AppAsync();
        var pages = app.Services.GetRequiredService<PublicPageCache>();
        var client = app.CreateClient();
        async Task<(HttpResponseMessage Response, byte[] Body)> GetAsync()
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, url);
            if (acceptEncoding is not null)
            {
                request.Headers.TryAddWithoutValidation("Accept-Encoding", acceptEncoding);
            }

            var response = await client.SendAsync(request, Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return (response, await response.Content.ReadAsByteArrayAsync(Ct));
        }

        var rendered = await GetAsync();
        var hits = pages.Hits;
        var front = await GetAsync();
        Assert.Equal(hits + 1, pages.Hits);
        Assert.Equal(rendered.Body, front.Body);
        Assert.Equal(Headers(rendered.Response), Headers(front.Response));
        // A stored page knows its length, so it is sent with Content-Length rather than chunked.
        // The security headers, validators and the encoding came along, not only the body.
        Assert.Contains(front.Response.Headers, h => h.Key == "Content-Security-Policy");
        Assert.NotNull(front.Response.Headers.ETag);
        Assert.Equal(acceptEncoding is null ? [] : [acceptEncoding], front.Response.Content.Headers.ContentEncoding);
        Assert.Equal(front.Body.Length, front.Response.Content.Headers.ContentLength);

        // HEAD goes through the pipeline, which still answers it.
        using var head = new HttpRequestMessage(HttpMethod.Head, url);
        Assert.Equal(HttpStatusCode.OK, (await client.SendAsync(head, Ct)).StatusCode);
        Assert.Equal(hits + 1, pages.Hits);

        // A browser's revisit, with the validators it was given, is answered from the front too: 304 with the
        // validators and the security headers, and no body or content headers.
        async Task<HttpResponseMessage> ConditionalAsync(Action<HttpRequestMessage> validators)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, url);
            if (acceptEncoding is not null)
            {
                request.Headers.TryAddWithoutValidation("Accept-Encoding", acceptEncoding);
            }

            validators(request);
            return await client.SendAsync(request, Ct);
        }

        var notModified = await ConditionalAsync(r => r.Headers.IfNoneMatch.Add(front.Response.Headers.ETag!));
        Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);
        Assert.Empty(await notModified.Content.ReadAsByteArrayAsync(Ct));
        Assert.Equal(front.Response.Headers.ETag, notModified.Headers.ETag);
        Assert.Equal(front.Response.Content.Headers.LastModified, notModified.Content.Headers.LastModified);
        Assert.Equal(front.Response.Headers.CacheControl, notModified.Headers.CacheControl);
        Assert.Contains(notModified.Headers, h => h.Key == "Content-Security-Policy");
        Assert.Empty(notModified.Content.Headers.ContentEncoding);
        Assert.Null(notModified.Content.Headers.ContentType);
        Assert.Equal(hits + 2, pages.Hits);

        var byDate = await ConditionalAsync(r => r.Headers.IfModifiedSince = front.Response.Content.Headers.LastModified);
        Assert.Equal(HttpStatusCode.NotModified, byDate.StatusCode);

        // Validators that no longer match get the whole page, from the front.
        var changed = await ConditionalAsync(r => r.Headers.IfNoneMatch.Add(new EntityTagHeaderValue("\"an-older-page\"", true)));
        Assert.Equal(HttpStatusCode.OK, changed.StatusCode);
        Assert.Equal(front.Body, await changed.Content.ReadAsByteArrayAsync(Ct));
        var older = await ConditionalAsync(r => r.Headers.IfModifiedSince = front.Response.Content.Headers.LastModified!.Value.AddDays(-1));
        Assert.Equal(HttpStatusCode.OK, older.StatusCode);
        Assert.Equal(front.Body, await older.Content.ReadAsByteArrayAsync(Ct));
        Assert.Equal(hits + 5, pages.Hits);
    }

    [Theory]
    [InlineData("/feeds/notes.atom")]
    [InlineData("/robots.txt")]
    [InlineData("/archive")]
    public async Task AHeadRequestIsAnsweredAndNeverLeavesAnEmptyPageInTheOutputCache(string url)
    {
        // The front cache off, so every GET below is the output cache's to answer.
        using var app = new NewsletterApp(new() { ["Archive:PageCacheBytes"] = "0" });
        app.WriteNote("a.md", Note("Cached note", "cached-note", "2026-01-01", "cache"));
        var client = app.CreateClient();
        for (var i = 0; i < 2; i++)
        {
            using var head = new HttpRequestMessage(HttpMethod.Head, url);
            var answer = await client.SendAsync(head, Ct);
            Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
            Assert.NotNull(answer.Headers.ETag);
        }

        for (var i = 0; i < 2; i++)
        {
            var body = await client.GetStringAsync(url, Ct);
            Assert.True(body.Length > 20, body);
        }

        Assert.Equal(0, app.Services.GetRequiredService<PublicPageCache>().Hits);
    }

    private static string[] Headers(HttpResponseMessage response) =>
        [.. response.Headers.Concat(response.Content.Headers).Where(h => h.Key is not ("Date" or "Content-Length"))
            .Select(h => h.Key + ": " + string.Join(", ", h.Value)).Order(StringComparer.Ordinal)];

    [Fact]
    public async Task AuthorsAndForgedCookiesAreNeverAnsweredFromTheFront()
    {
        using var app = await AppAsync();
        var pages = app.Services.GetRequiredService<PublicPageCache>();
        var reader = app.CreateClient();
        var author = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(author);
        var issue = await AddIssueAsync(app, 2, "Loudly added", Utc(2026, 1, 9));
        Assert.Contains("Loudly added", await reader.GetStringAsync("/archive", Ct), StringComparison.Ordinal);
        Assert.Contains("Loudly added", await reader.GetStringAsync("/archive", Ct), StringComparison.Ordinal);
        var hits = pages.Hits;
        Assert.True(hits >= 1);
        await UpdateIssueAsync(app, issue.Id, i => i.Subject = "Seen by the author", announce: false);

        // The author's cookie takes the request past the stored anonymous page to the database as it is.
        Assert.Contains("Seen by the author", await author.GetStringAsync("/archive", Ct), StringComparison.Ordinal);
        Assert.Equal(hits, pages.Hits);

        // A forged sign-in cookie signs nobody in: the pipeline answers it as any reader, and it is not kept.
        using var forged = new HttpRequestMessage(HttpMethod.Get, "/archive");
        forged.Headers.Add("Cookie", "newsletter.auth=CfDJ8forged");
        var answer = await reader.SendAsync(forged, Ct);
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        Assert.DoesNotContain("Seen by the author", await answer.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Equal(hits, pages.Hits);

        // Readers still get the copy from before the quiet change, from the front.
        Assert.DoesNotContain("Seen by the author", await reader.GetStringAsync("/archive", Ct), StringComparison.Ordinal);
        Assert.Equal(hits + 1, pages.Hits);
    }

    [Fact]
    public async Task AnAnnouncedChangeIsNeverAnsweredWithTheOldPageFromTheFront()
    {
        using var app = await AppAsync();
        var pages = app.Services.GetRequiredService<PublicPageCache>();
        var client = app.CreateClient();
        await client.GetStringAsync("/archive", Ct);
        await client.GetStringAsync("/archive", Ct);
        Assert.Equal(1, pages.Hits);

        await AddIssueAsync(app, 2, "Announced", Utc(2026, 1, 9));
        Assert.Contains("Announced", await client.GetStringAsync("/archive", Ct), StringComparison.Ordinal);
        Assert.Equal(1, pages.Hits);
        Assert.Contains("Announced", await client.GetStringAsync("/archive", Ct), StringComparison.Ordinal);
        Assert.Equal(2, pages.Hits);
    }

    private static readonly Endpoint APublicPage = new(null, new EndpointMetadataCollection(PublicContentMetadata.Instance), "a public page");

    /// <summary>One anonymous GET of /a-page straight through the front cache; the pipeline behind it writes <paramref name="body"/> as a public page.</summary>
    private static async Task<(HttpContext Context, string Body)> ThroughTheFrontAsync(NewsletterApp app, string body, Func<Task>? whileRendering = null)
    {
        var context = new DefaultHttpContext { RequestServices = app.Services };
        context.Request.Method = HttpMethods.Get;
        context.Request.Scheme = "http";
        context.Request.Host = new HostString("front.test");
        context.Request.Path = "/a-page";
        var output = new MemoryStream();
        context.Response.Body = output;
        await app.Services.GetRequiredService<PublicPageCache>().InvokeAsync(context, async c =>
        {
            c.SetEndpoint(APublicPage);
            c.Response.Headers.ETag = "W/\"" + body.Length + "\"";
            c.Response.Headers.LastModified = "Tue, 01 Dec 2026 10:00:00 GMT";
            await c.Response.WriteAsync(body, Ct);
            if (whileRendering is not null)
            {
                await whileRendering();
            }
        });
        return (context, System.Text.Encoding.UTF8.GetString(output.ToArray()));
    }

    [Fact]
    public async Task APageRenderedWhileContentChangedIsNeverKeptOverTheNewOne()
    {
        using var app = await AppAsync();
        var pages = app.Services.GetRequiredService<PublicPageCache>();
        var caches = app.Services.GetRequiredService<ContentCaches>();

        // A reader's page is still being written from the old content when a change is recorded, and another
        // reader, arriving after the change, gets the new page rendered and kept. The slow one ends last.
        var slow = await ThroughTheFrontAsync(app, "old", async () =>
        {
            await caches.RecordAsync(caches.Generation + 100, Ct);
            Assert.Equal("new", (await ThroughTheFrontAsync(app, "new")).Body);
        });
        Assert.Equal("old", slow.Body);

        // Everyone after gets the new page from the front, never the old one the slow request finished with.
        var hits = pages.Hits;
        Assert.Equal("new", (await ThroughTheFrontAsync(app, "would be rendered again")).Body);
        Assert.Equal(hits + 1, pages.Hits);
    }

    [Fact]
    public async Task AnAnswerFromTheFrontCarriesItsPagesEndpointSoRequestMetricsNameTheRoute()
    {
        using var app = await AppAsync();
        var pages = app.Services.GetRequiredService<PublicPageCache>();
        await ThroughTheFrontAsync(app, "a page");
        var hits = pages.Hits;
        var (context, body) = await ThroughTheFrontAsync(app, "would be rendered again");
        Assert.Equal("a page", body);
        Assert.Equal(hits + 1, pages.Hits);
        // ASP.NET Core's request duration metric takes http.route from the request's endpoint when the request ends.
        Assert.Same(APublicPage, context.GetEndpoint());
    }

    [Fact]
    public async Task TheFrontKeepsNoMoreThanItsBudgetAndPagesPastItAreStillServed()
    {
        // Room for about one compressed page: junk tags (each its own key) cannot grow memory.
        using var app = new NewsletterApp(new() { ["Archive:PageCacheBytes"] = "12000" });
        app.WriteNote("a.md", Note("Cached note", "cached-note", "2026-01-01", "cache"));
        await AddIssueAsync(app, 1, "Cached issue", Utc(2026, 1, 5), tags: ["cache"]);
        var pages = app.Services.GetRequiredService<PublicPageCache>();
        var client = app.CreateClient();
        for (var i = 0; i < 30; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"/notes?tag=junk{i}");
            request.Headers.TryAddWithoutValidation("Accept-Encoding", "br");
            var response = await client.SendAsync(request, Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.True(pages.Bytes <= 12000, $"{pages.Bytes} bytes kept");
        }

        // A few small tag pages fit the budget; thirty did not stay.
        Assert.InRange(pages.Count, 1, 10);
        Assert.Contains("Cached issue", await client.GetStringAsync("/archive", Ct), StringComparison.Ordinal);
        Assert.Contains("Cached issue", await client.GetStringAsync("/archive", Ct), StringComparison.Ordinal);
    }

    /// <summary>A made-up Host header or a ?page= that is no number is the same page: served from its one entry, not stored again.</summary>
    [Fact]
    public async Task JunkHostsAndPageValuesShareThePagesOneEntry()
    {
        using var app = await AppAsync();
        var pages = app.Services.GetRequiredService<PublicPageCache>();
        var client = app.CreateClient();
        Assert.Contains("Cached issue", await client.GetStringAsync("/archive", Ct), StringComparison.Ordinal);
        var (count, hits) = (pages.Count, pages.Hits);
        foreach (var (host, query) in new[] { ("junk1.example", ""), ("junk2.example", "?page=abc"), ("localhost", "?page=1"), ("localhost", "?page=%2B1") })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/archive" + query);
            request.Headers.Host = host;
            var response = await client.SendAsync(request, Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Contains("Cached issue", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        }

        Assert.Equal(count, pages.Count);
        Assert.Equal(hits + 4, pages.Hits);
    }

    [Fact]
    public async Task StylesheetsAreStillCompressedAndCachedByBrowsers()
    {
        using var app = new NewsletterApp();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/css/site.css");
        request.Headers.TryAddWithoutValidation("Accept-Encoding", "br");
        var response = await app.CreateClient().SendAsync(request, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(["br"], response.Content.Headers.ContentEncoding);
        Assert.Equal("public, max-age=3600", response.Headers.CacheControl?.ToString());
    }

    [Fact]
    public async Task AssetsSkipTheAuthorsCookieAndAMissingOneGetsTheNotFoundPage()
    {
        using var app = new NewsletterApp();
        var author = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(author);

        // A signed-in author's stylesheet: the cookie is neither read nor renewed, so the response keeps
        // the cache headers a renewal would have replaced with no-store.
        var css = await author.GetAsync("/css/site.css?v=1", Ct);
        Assert.Equal(HttpStatusCode.OK, css.StatusCode);
        Assert.False(css.Headers.Contains("Set-Cookie"));
        Assert.Equal("public, max-age=31536000, immutable", css.Headers.CacheControl?.ToString());

        var missing = await app.CreateClient().GetAsync("/css/missing.css", Ct);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Contains("<h1", await missing.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task SignedInAuthorsNeverGetOrFillTheCache()
    {
        using var app = await AppAsync();
        var reader = app.CreateClient();
        var author = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(author);
        var issue = await AddIssueAsync(app, 2, "Loudly added", Utc(2026, 1, 9));
        Assert.Contains("Loudly added", await reader.GetStringAsync("/archive", Ct), StringComparison.Ordinal);
        await UpdateIssueAsync(app, issue.Id, i => i.Subject = "Seen by the author", announce: false);

        // The author sees the database as it is; the anonymous reader still gets the cached page, which the
        // author's visit did not replace.
        Assert.Contains("Seen by the author", await author.GetStringAsync("/archive", Ct), StringComparison.Ordinal);
        Assert.DoesNotContain("Seen by the author", await reader.GetStringAsync("/archive", Ct), StringComparison.Ordinal);

        // Rendered fresh for the author every time, and still answered with 304 when unchanged.
        var etag = (await author.GetAsync("/archive", Ct)).Headers.ETag!;
        using var conditional = new HttpRequestMessage(HttpMethod.Get, "/archive");
        conditional.Headers.IfNoneMatch.Add(etag);
        Assert.Equal(HttpStatusCode.NotModified, (await author.SendAsync(conditional, Ct)).StatusCode);
    }

    [Fact]
    public async Task AdminPagesAndPostsAreNeverCached()
    {
        using var app = await AppAsync();
        var author = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(author);
        var admin = await author.GetAsync("/admin", Ct);
        Assert.Null(admin.Headers.ETag);
        Assert.NotEqual("public, no-cache", admin.Headers.CacheControl?.ToString());
        var post = await app.CreateClient().PostAsync("/search?q=cached", new FormUrlEncodedContent([]), Ct);
        Assert.NotEqual(HttpStatusCode.OK, post.StatusCode);
    }

    [Fact]
    public async Task QueryKeysAPageDoesNotReadDoNotSplitTheCache()
    {
        using var app = await AppAsync();
        var client = app.CreateClient();
        var plain = await client.GetAsync("/archive", Ct);
        var junk = await client.GetAsync("/archive?utm_source=x", Ct);
        Assert.Equal(plain.Headers.ETag, junk.Headers.ETag);
        Assert.Contains("/issues/cached-issue", await (await client.GetAsync("/search?q=cached", Ct)).Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Contains("Nothing matched", await (await client.GetAsync("/search?q=zebra", Ct)).Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }
}
