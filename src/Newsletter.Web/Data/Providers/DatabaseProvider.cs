using Newsletter.Mail;
namespace Newsletter.Web.Data.Providers;

/// <summary>
/// Which database holds the app's data. Read once at start-up to register the provider's forms of the
/// provider-specific SQL (<see cref="ProviderServices"/>); feature code never asks for it.
/// </summary>
public enum DatabaseProvider
{
    Sqlite,
    PostgreSql,
}

/// <summary>Database:Provider and Database:ConnectionString, read and checked in one place.</summary>
public sealed record DatabaseSettings(DatabaseProvider Provider, string? ConnectionString)
{
    /// <summary>
    /// Sqlite when Database:Provider is empty. A provider this build cannot honour, or PostgreSql without a
    /// connection string, stops the start with a sentence, instead of quietly writing to a SQLite file.
    /// </summary>
    public static DatabaseSettings From(IConfiguration configuration)
    {
        var name = configuration["Database:Provider"];
        var provider = name?.Trim().ToLowerInvariant() switch
        {
            null or "" or "sqlite" => DatabaseProvider.Sqlite,
            "postgresql" or "postgres" => DatabaseProvider.PostgreSql,
            _ => throw new SettingsException(
                $"Database:Provider '{name}' is not supported: use Sqlite (the default, one host) or PostgreSql (several hosts)."),
        };

        var connectionString = configuration["Database:ConnectionString"];
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            if (provider == DatabaseProvider.PostgreSql)
            {
                throw new SettingsException(
                    "Database:Provider is PostgreSql but Database:ConnectionString is empty: set it, for example " +
                    "Database__ConnectionString=\"Host=db;Database=newsletter;Username=newsletter;Password=...\".");
            }

            connectionString = null;
        }

        return new DatabaseSettings(provider, connectionString);
    }
}
