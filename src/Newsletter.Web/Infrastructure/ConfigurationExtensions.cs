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
            builder.Environment.WebRootFileProvider = new PhysicalFileProvider(webRoot);
        }

        var paths = new AppPaths(root, builder.Configuration);
        builder.Services.AddSingleton(paths);
        return paths;
    }
}
