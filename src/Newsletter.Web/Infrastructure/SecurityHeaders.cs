namespace Newsletter.Web.Infrastructure;

/// <summary>
/// Headers every response carries. The CSP allows no inline script; the only exception is the Hangfire
/// dashboard, which ships inline script of its own and is reachable by authors only. The API reference
/// (Scalar) keeps script to this origin but styles its components inline, also for authors only.
/// </summary>
public static class SecurityHeaders
{
    private const string Csp =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; font-src 'self'; " +
        "connect-src 'self'; frame-ancestors 'none'; frame-src 'self'; base-uri 'self'; form-action 'self'; object-src 'none'";

    private const string DashboardCsp =
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
        "frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'";

    private const string ApiReferenceCsp =
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; " +
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'";

    // Email HTML needs inline styles; it gets nothing else: no script, no fetches, only our own frame. Images from
    // this site too: on a first run's http://localhost an uploaded image would otherwise show as broken.
    private const string EmailPreviewCsp = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https: data:; frame-ancestors 'self'; base-uri 'none'; form-action 'none'";

    public static IApplicationBuilder UseSecurityHeaders(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        context.Response.OnStarting(() =>
        {
            var headers = context.Response.Headers;
            var isDashboard = context.Request.Path.StartsWithSegments("/admin/jobs", StringComparison.OrdinalIgnoreCase);
            // The email preview is shown inside an iframe of our own admin page.
            var isFramedPreview = context.Request.Path.StartsWithSegments("/admin/preview", StringComparison.OrdinalIgnoreCase);
            var isApiReference = context.Request.Path.StartsWithSegments("/admin/api-reference", StringComparison.OrdinalIgnoreCase);
            headers.ContentSecurityPolicy = isDashboard ? DashboardCsp : isFramedPreview ? EmailPreviewCsp : isApiReference ? ApiReferenceCsp : Csp;
            headers.XContentTypeOptions = "nosniff";
            headers.XFrameOptions = isFramedPreview ? "SAMEORIGIN" : "DENY";
            // A response that chose a stricter policy keeps it (the link-click redirect sends no referrer at all).
            if (!headers.ContainsKey("Referrer-Policy"))
            {
                headers["Referrer-Policy"] = "strict-origin-when-cross-origin";
            }

            headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), interest-cohort=()";
            headers["Cross-Origin-Opener-Policy"] = "same-origin";
            // Scheme as the client used it: after UseForwardedHeaders, https from a trusted proxy counts too.
            if (context.Request.IsHttps)
            {
                headers.StrictTransportSecurity = "max-age=31536000";
            }

            // Admin pages and exports hold readers' addresses and authors' data: no browser or proxy keeps a copy.
            if (context.Request.Path.StartsWithSegments("/admin", StringComparison.OrdinalIgnoreCase))
            {
                headers.CacheControl = "no-store";
            }

            return Task.CompletedTask;
        });
        await next();
    });
}
