namespace Newsletter.Web.Tracking;

public static class TrackingExtensions
{
    public static WebApplicationBuilder AddTracking(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<TrackingOptions>().Bind(builder.Configuration.GetSection("Tracking"));
        builder.Services.AddScoped<LinkClicks>();
        return builder;
    }

    public static WebApplication MapTracking(this WebApplication app)
    {
        // A link in a sent issue. Only addresses stored for that issue are redirected to (never a parameter,
        // so never an open redirect); a click adds one to the link's counter and nothing about the reader is
        // read into storage or logs. Served whether counting is on or off now, so links already sent keep working;
        // counted only while it is on.
        app.MapMethods("/r/{issueId:int}/{number:int}", [HttpMethods.Get, HttpMethods.Head], async (int issueId, int number, HttpContext http, LinkClicks clicks, CancellationToken ct) =>
        {
            var url = await clicks.FindAsync(issueId, number, ct);
            http.Response.Headers["Referrer-Policy"] = "no-referrer";
            http.Response.Headers.CacheControl = "no-store";
            if (url is null)
            {
                return Results.NotFound();
            }

            if (clicks.Enabled && LinkClicks.IsReader(http.Request))
            {
                await clicks.CountAsync(issueId, number, CancellationToken.None);
            }

            return Results.Redirect(LinkClicks.Location(url));
        }).ExcludeFromDescription();
        return app;
    }
}
