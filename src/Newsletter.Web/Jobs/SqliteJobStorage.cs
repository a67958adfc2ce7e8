using Newsletter.Hangfire.Sqlite;

namespace Newsletter.Web.Jobs;

internal static class SqliteJobStorage
{
    /// <summary>
    /// Jobs:Sqlite settings over the storage's own defaults, in the file <see cref="JobStorageSettings"/> resolved (under the
    /// data folder unless Jobs:Sqlite:Path names another place, relative to the app's home). The DI container
    /// disposes the storage at shutdown, after the Hangfire server (a hosted service) has stopped.
    /// </summary>
    public static SqliteStorage Create(IConfigurationSection section, string path)
    {
        var options = new SqliteStorageOptions();
        section.Bind(options);
        options.Path = path;
        return new SqliteStorage(options);
    }
}
