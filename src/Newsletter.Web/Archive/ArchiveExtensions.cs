using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.Options;

namespace Newsletter.Web.Archive;

public static class ArchiveExtensions
{
    /// <summary>
    /// The pages readers see. They are output-cached for anonymous readers and answer conditional GETs;
    /// anything with a form token, a personal link or an author's view stays out of this list.
    /// </summary>
    public static readonly IReadOnlyList<string> PublicPages =
    [
        "/Site/Home", "/Notes/Index", "/Notes/Show", "/Notes/Tags", "/Notes/Tag", "/Author/About",
        "/Archive/Index", "/Archive/IssuePage", "/Archive/Search",
    ];

    public static WebApplicationBuilder AddArchive(this WebApplicationBuilder builder)
    {
        builder.Services.Configure<ArchiveOptions>(builder.Configuration.GetSection("Archive"));
        builder.Services.AddScoped<SearchIndex>();
        builder.Services.AddSingleton<PublicPageCache>();
        builder.Services.AddOptions<OutputCacheOptions>().Configure<IOptions<ArchiveOptions>>((o, archive) =>
        {
            o.AddPolicy(PublicContentPolicy.Name, new PublicContentPolicy(archive));
            // Paths keyed as sent. The output cache matches them without case by default, so /tags/SQLite was
            // answered with /tags/sqlite's stored page (which PublicPageCache then kept too) instead of its 301.
            o.UseCaseSensitivePaths = true;
        });
        builder.Services.Configure<RazorPagesOptions>(o =>
        {
            foreach (var page in PublicPages)
            {
                o.Conventions.AddPageApplicationModelConvention(page, model =>
                {
                    model.EndpointMetadata.Add(new OutputCacheAttribute { PolicyName = PublicContentPolicy.Name });
                    model.EndpointMetadata.Add(PublicContentMetadata.Instance);
                });
            }
        });
        return builder;
    }

    public static WebApplication MapArchive(this WebApplication app)
    {
        // Registered after UseOutputCache (in UsePublicSite), so it runs inside it: a page rendered here gets
        // its ETag and Last-Modified before it is stored, and cache hits answer 304 from those stored headers.
        app.UseMiddleware<ConditionalGetMiddleware>();

        var content = app.MapGroup("").CacheOutput(PublicContentPolicy.Name).WithMetadata(PublicContentMetadata.Instance);
        // HEAD too, as for the pages: a feed reader or a link checker asking whether a feed exists gets 200, not 405.
        string[] getOrHead = [HttpMethods.Get, HttpMethods.Head];
        content.MapMethods("/feeds/{kind}.{format}", getOrHead, Feeds.ForKindAsync);
        content.MapMethods("/feeds/tags/{tag}.{format}", getOrHead, Feeds.ForTagAsync);
        content.MapMethods("/sitemap.xml", getOrHead, Sitemap.XmlAsync);
        content.MapMethods("/robots.txt", getOrHead, Sitemap.RobotsTxt);
        return app;
    }
}
