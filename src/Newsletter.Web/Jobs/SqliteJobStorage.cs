using Hangfire;
using Newsletter.Web.Infrastructure;

namespace Newsletter.Web.Jobs;

internal static class SqliteJobStorage
{
    public static JobStorage Create(IConfigurationSection section, AppPaths paths)
    {
        // Until the project's own SQLite storage lands, keep jobs in memory; replaced in the next step.
        _ = section;
        _ = paths;
        return new Hangfire.InMemory.InMemoryStorage();
    }
}
