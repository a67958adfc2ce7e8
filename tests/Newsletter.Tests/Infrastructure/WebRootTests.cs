using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.FileProviders;
using Newsletter.Testing;

namespace Newsletter.Tests.Infrastructure;

public class WebRootTests
{
    /// <summary>
    /// A watched web root holds a Linux inotify instance per app (128 per user), never given back: a test run
    /// of hundreds of apps ran out of them and pages failed at random. Versioned asset links still work.
    /// </summary>
    [Fact]
    public async Task TheWebRootIsNotWatchedOutsideDevelopmentAndAssetLinksAreStillVersioned()
    {
        using var app = new NewsletterApp();
        var html = await app.CreateClient().GetStringAsync("/", TestContext.Current.CancellationToken);
        Assert.Matches("href=\"/css/site.css\\?v=[^\"]+\"", html);
        var webRoot = app.Services.GetRequiredService<IWebHostEnvironment>().WebRootFileProvider;
        Assert.Same(NullChangeToken.Singleton, webRoot.Watch("css/site.css"));
        Assert.True(webRoot.GetFileInfo("css/site.css").Exists);
    }
}
