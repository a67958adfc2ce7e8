using Newsletter.Hangfire.Sqlite;
using Newsletter.Web.Infrastructure;

namespace Newsletter.Web.Jobs;

internal static class SqliteJobStorage
{
    /// <summary>
    /// Jobs:Sqlite settings over the storage's own defaults. The file lives under the data folder unless Path names another
    /// place; a relative Path is relative to the app's home, like every other path in appsettings.json. The DI container
    /// disposes the storage at shutdown, after the Hangfire server (a hosted service) has stopped.
    /// </summary>
    public static SqliteStorage Create(IConfigurationSection section, AppPaths paths)
    {
        var options = new SqliteStorageOptions();
        section.Bind(options);
        options.Path = paths.Resolve(section["Path"], paths.DataFile("jobs.db"));
        return new SqliteStorage(options);
    }
}
