using Hangfire;

namespace Newsletter.Hangfire.Sqlite;

/// <summary>Registers the SQLite job storage with Hangfire's configuration.</summary>
public static class SqliteStorageExtensions
{
    /// <summary>Uses a <see cref="SqliteStorage"/> on the file named by <paramref name="options"/> as Hangfire's job storage.</summary>
    public static IGlobalConfiguration<SqliteStorage> UseNewsletterSqliteStorage(this IGlobalConfiguration configuration, SqliteStorageOptions options)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(options);
        return configuration.UseStorage(new SqliteStorage(options));
    }
}
