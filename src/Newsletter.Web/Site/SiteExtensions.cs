using System.IO.Compression;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.AspNetCore.ResponseCompression;
using Newsletter.Web.Admin;
using Newsletter.Web.Infrastructure;

namespace Newsletter.Web.Site;

public static class SiteExtensions
{
    public static WebApplicationBuilder AddPublicSite(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<SiteOptions>().Bind(builder.Configuration.GetSection("Site")).ValidateOnStart();
        builder.Services.AddSingleton<Microsoft.Extensions.Options.IValidateOptions<SiteOptions>, SiteOptionsCheck>();
        builder.Services.AddScoped<Author.AuthorIdentity>();
        builder.Services.AddRazorPages(o =>
        {
            o.RootDirectory = "/";
            o.Conventions.AddPageRoute("/Notes/Admin/Edit", "admin/notes/new");
            // A POST naming no handler the page has rendered the page without its GET's data: a 500 on the issue,
            // reader and progress pages. It is a malformed request.
            o.Conventions.ConfigureFilter(new PostWithoutHandler());
        }).ConfigureApplicationPartManager(parts =>
        {
            // The app has no controllers, and looking for them reads every type of the app's assembly at start,
            // which loads each assembly those types name (README, "Memory and cold start").
            parts.FeatureProviders.Remove(parts.FeatureProviders.OfType<Microsoft.AspNetCore.Mvc.Controllers.ControllerFeatureProvider>().Single());
        }).AddMvcOptions(o =>
        {
            // Values a form field could not be read as (a date typed by hand, a number): said in the site's words.
            var m = o.ModelBindingMessageProvider;
            m.SetAttemptedValueIsInvalidAccessor((value, field) => $"“{value}” can't be read as {field}.");
            m.SetValueIsInvalidAccessor(value => $"“{value}” can't be read here.");
            m.SetValueMustNotBeNullAccessor(field => $"Fill in {field}.");
            m.SetMissingBindRequiredValueAccessor(field => $"Fill in {field}.");
            m.SetValueMustBeANumberAccessor(field => $"{field} must be a number.");
            m.SetUnknownValueIsInvalidAccessor(field => $"That value can't be read as {field}.");
            m.SetNonPropertyAttemptedValueIsInvalidAccessor(value => $"“{value}” can't be read here.");
            m.SetNonPropertyUnknownValueIsInvalidAccessor(() => "That value can't be read here.");
            m.SetNonPropertyValueMustBeANumberAccessor(() => "This must be a number.");
            m.SetMissingRequestBodyRequiredValueAccessor(() => "The form arrived empty. Try again.");
            m.SetMissingKeyOrValueAccessor(() => "A value is missing.");
        });
        // Readable HTML: names and punctuation stay as characters instead of &#x...; entities.
        builder.Services.Configure<Microsoft.Extensions.WebEncoders.WebEncoderOptions>(o =>
            o.TextEncoderSettings = new System.Text.Encodings.Web.TextEncoderSettings(System.Text.Unicode.UnicodeRanges.All));
        builder.Services.AddResponseCompression(o =>
        {
            o.EnableForHttps = true;
            o.Providers.Add<BrotliCompressionProvider>();
            o.Providers.Add<GzipCompressionProvider>();
            o.MimeTypes = ResponseCompressionDefaults.MimeTypes.Concat(["application/atom+xml", "application/rss+xml", "application/feed+json", "image/svg+xml"]);
        });
        builder.Services.Configure<BrotliCompressionProviderOptions>(o => o.Level = CompressionLevel.Fastest);
        builder.Services.Configure<GzipCompressionProviderOptions>(o => o.Level = CompressionLevel.Fastest);
        builder.Services.AddOutputCache();
        builder.Services.AddRateLimiter(_ => { });
        // Bodies are small everywhere except uploads, which raise their own limit.
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = 1024 * 1024;
            // No "Server: Kestrel": it tells a scanner what to try and helps nobody else.
            k.AddServerHeader = false;
        });
        return builder;
    }

    public static WebApplication UsePublicSite(this WebApplication app)
    {
        // Behind a reverse proxy the client's address and scheme arrive in X-Forwarded-* headers. They are
        // believed only from the proxies named here (loopback by default; an address, or a network like
        // 172.28.0.0/24 for a container network): the per-IP subscribe limit and secure cookies depend on
        // them, and anyone else could send them to dodge the limit. Only the last hop is read (one proxy).
        var forwarded = new ForwardedHeadersOptions { ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto };
        foreach (var proxy in (app.Configuration["Site:TrustedProxies"] ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (proxy.Contains('/', StringComparison.Ordinal))
            {
                forwarded.KnownIPNetworks.Add(System.Net.IPNetwork.Parse(proxy));
            }
            else
            {
                forwarded.KnownProxies.Add(System.Net.IPAddress.Parse(proxy));
            }
        }

        app.UseForwardedHeaders(forwarded);
        // Whole public pages for anonymous readers, answered before anything below runs for them (and after the
        // forwarded headers, since the scheme and host are part of a page's key).
        var pages = app.Services.GetRequiredService<Archive.PublicPageCache>();
        app.Use((context, next) => pages.InvokeAsync(context, next));
        // The API answers every error with problem details (JSON for programs); everything else with the
        // friendly error page. Both branches wrap the rest of the pipeline.
        app.UseWhen(Api.ApiExtensions.IsApi, api =>
        {
            api.UseExceptionHandler(new ExceptionHandlerOptions
            {
                StatusCodeSelector = e => e is BadHttpRequestException bad ? bad.StatusCode : Data.DatabaseBusy.Is(e) ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status500InternalServerError,
                // A client's malformed body is answered, not logged as a server error; anything else still is.
                SuppressDiagnosticsCallback = c => c.Exception is BadHttpRequestException,
            });
            api.UseStatusCodePages();
        });
        app.UseWhen(c => !Api.ApiExtensions.IsApi(c), site =>
        {
            if (!app.Environment.IsDevelopment())
            {
                // A body over Kestrel's limit (the inbound endpoint reads its own) is the client's fault: 413, not 500.
                site.UseExceptionHandler(new ExceptionHandlerOptions
                {
                    ExceptionHandlingPath = "/error",
                    StatusCodeSelector = e => e is BadHttpRequestException bad ? bad.StatusCode : Data.DatabaseBusy.Is(e) ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status500InternalServerError,
                });
            }

            site.UseStatusCodePagesWithReExecute("/error/{0}");
            // The error page is re-executed with the failed request's method and body. As a POST, Razor Pages would
            // read that form again, and a form that failed once (too large, malformed) fails again and leaves a bare
            // 500. The error page needs nothing from the request, so it is always shown as a GET.
            site.Use((context, next) =>
            {
                if (context.Features.Get<IStatusCodeReExecuteFeature>() is not null || context.Features.Get<IExceptionHandlerFeature>() is not null)
                {
                    context.Request.Method = HttpMethods.Get;
                }

                return next(context);
            });
        });
        app.UseSecurityHeaders();
        // Files under wwwroot take a branch of their own before routing: no cookie is read, renewed or
        // checked for them, and pages do not pay a file-system lookup on every request.
        var webRoot = app.Environment.WebRootFileProvider;
        var assetRoots = webRoot.GetDirectoryContents("").Select(e => "/" + e.Name).ToArray();
        app.MapWhen(c => assetRoots.Any(root => c.Request.Path.StartsWithSegments(root, StringComparison.OrdinalIgnoreCase)), assets =>
        {
            assets.UseResponseCompression();
            assets.UseStaticFiles(new StaticFileOptions
            {
                OnPrepareResponse = ctx => ctx.Context.Response.Headers.CacheControl = ctx.Context.Request.Query.ContainsKey("v")
                    ? "public, max-age=31536000, immutable"
                    : "public, max-age=3600",
            });
        });
        app.UseRouting();
        app.UseRateLimiter();
        app.UseFormSizeLimit();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseAntiforgery();
        // Compression sits inside the output cache, so a cached page is stored compressed, once per encoding
        // (PublicContentPolicy keys on it), instead of being compressed again on every hit. Outside it,
        // Brotli on each cached page cut a note page from 40,000 to 14,000 requests/s for browsers.
        app.UseOutputCache();
        app.UseResponseCompression();
        return app;
    }

    public static WebApplication MapPublicSite(this WebApplication app)
    {
        // Every page under /admin requires an author unless it says [AllowAnonymous] (login, setup, reset).
        app.MapRazorPages().Add(endpoint =>
        {
            if (endpoint is RouteEndpointBuilder route && route.RoutePattern.RawText?.TrimStart('/').StartsWith("admin", StringComparison.OrdinalIgnoreCase) == true)
            {
                endpoint.Metadata.Add(new AuthorizeAttribute(AdminExtensions.AuthorPolicy));
            }
        });
        return app;
    }
}

/// <summary>A POST (or PUT, DELETE) to a page that has no handler for it is answered 400 before the page runs.</summary>
public sealed class PostWithoutHandler : Microsoft.AspNetCore.Mvc.Filters.IPageFilter
{
    public void OnPageHandlerSelected(Microsoft.AspNetCore.Mvc.Filters.PageHandlerSelectedContext context)
    {
    }

    public void OnPageHandlerExecuting(Microsoft.AspNetCore.Mvc.Filters.PageHandlerExecutingContext context)
    {
        var method = context.HttpContext.Request.Method;
        if (context.HandlerMethod is null && !HttpMethods.IsGet(method) && !HttpMethods.IsHead(method))
        {
            context.Result = new Microsoft.AspNetCore.Mvc.BadRequestResult();
        }
    }

    public void OnPageHandlerExecuted(Microsoft.AspNetCore.Mvc.Filters.PageHandlerExecutedContext context)
    {
    }
}
