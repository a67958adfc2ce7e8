using Microsoft.Extensions.Configuration.Json;
using Microsoft.Extensions.FileProviders;

namespace Newsletter.Web.Infrastructure;

public static class ConfigurationExtensions
{
    /// <summary>
    /// Reads the root appsettings.json under everything else, so environment variables (Section__Key)
    /// and command-line switches still override it, and serves static files from the binary's folder.
    /// </summary>
    public static AppPaths AddNewsletterConfiguration(this WebApplicationBuilder builder)
    {
        var root = AppPaths.FindRoot();
        var file = Path.Combine(root, "appsettings.json");
        if (File.Exists(file))
        {
            // Same switch as the host's own appsettings.json: test hosts turn it off, since every watcher
            // takes an inotify instance and a test run starts hundreds of apps.
            var reload = builder.Configuration.GetValue("hostBuilder:reloadConfigOnChange", true);
            var source = new JsonConfigurationSource { Path = file, Optional = false, ReloadOnChange = reload };
            source.ResolveFileProvider();
            ((IConfigurationBuilder)builder.Configuration).Sources.Insert(0, source);
        }

        var webRoot = Path.Combine(AppContext.BaseDirectory, "wwwroot");
        if (Directory.Exists(webRoot))
        {
            builder.Environment.WebRootPath = webRoot;
            IFileProvider files = new PhysicalFileProvider(webRoot);
            builder.Environment.WebRootFileProvider = builder.Environment.IsDevelopment() ? files : new UnwatchedFileProvider(files);
        }

        var paths = new AppPaths(root, builder.Configuration);
        builder.Services.AddSingleton(paths);
        return paths;
    }
}

/// <summary>
/// The web root without change notifications. asp-append-version watches the files it versions, and each
/// watching provider holds a Linux inotify instance (128 per user) that is never given back while the
/// process lives; a test run starts hundreds of apps in one process and ran out, failing pages at random.
/// Outside Development the files change only with a new build, which restarts the app anyway.
/// </summary>
internal sealed class UnwatchedFileProvider(IFileProvider files) : IFileProvider
{
    public IFileInfo GetFileInfo(string subpath) => files.GetFileInfo(subpath);

    public IDirectoryContents GetDirectoryContents(string subpath) => files.GetDirectoryContents(subpath);

    public Microsoft.Extensions.Primitives.IChangeToken Watch(string filter) => NullChangeToken.Singleton;
}
