#if NEWSLETTER_WEB
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Data;
using Newsletter.Web.Data.Providers;
using Npgsql;

namespace Newsletter.Testing;

/// <summary>
/// Which database a <see cref="NewsletterApp"/> runs on, and PostgreSQL databases for it. Newsletter.Tests runs
/// its tests on SQLite; Newsletter.Tests.PostgreSql compiles the same files with POSTGRESQL_TESTS and runs them
/// on PostgreSQL: one throwaway cluster per test process, started on first use and stopped at exit, and a
/// fresh database per app, copied from a template that the committed migrations built once.
/// </summary>
public static class TestDatabases
{
#if POSTGRESQL_TESTS
    public const DatabaseProvider Default = DatabaseProvider.PostgreSql;
#else
    public const DatabaseProvider Default = DatabaseProvider.Sqlite;
#endif

    private const string Template = "newsletter_template";

    private static readonly Lazy<PostgresServer> Server = new(StartServer);
    private static readonly Lazy<string> MigratedTemplate = new(BuildTemplate);
    private static readonly SemaphoreSlim CreateGate = new(1, 1);
    private static int _next;

    /// <summary>A new PostgreSQL database with the schema already migrated; skips (fails under CI=true) without PostgreSQL.</summary>
    public static string CreateMigratedPostgres() => Create(MigratedTemplate.Value);

    /// <summary>A new, empty PostgreSQL database: for tests of the migrations themselves.</summary>
    public static string CreateEmptyPostgres() => Create("template0");

    /// <summary>Drops a database made here, closing whatever connections are still open to it.</summary>
    public static void Drop(string connectionString)
    {
        var database = new NpgsqlConnectionStringBuilder(connectionString).Database;
        using (var connection = new NpgsqlConnection(connectionString))
        {
            NpgsqlConnection.ClearPool(connection);
        }

        Execute($"DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)");
    }

    private static string Create(string template)
    {
        var name = $"app_{Environment.ProcessId}_{Interlocked.Increment(ref _next)}";
        // PostgreSQL copies a template only while no one else is copying or using it.
        CreateGate.Wait();
        try
        {
            Execute($"CREATE DATABASE \"{name}\" TEMPLATE \"{template}\"");
        }
        finally
        {
            CreateGate.Release();
        }

        return ConnectionString(name);
    }

    private static string BuildTemplate()
    {
        var connectionString = Server.Value.CreateDatabase(Template);
        var options = new DbContextOptionsBuilder<AppDbContext>();
        options.UseDatabase(DatabaseProvider.PostgreSql, connectionString);
        using (var db = new AppDbContext(options.Options))
        {
            db.Database.Migrate();
        }

        using (var connection = new NpgsqlConnection(connectionString))
        {
            NpgsqlConnection.ClearPool(connection);
        }

        return Template;
    }

    private static string ConnectionString(string database) =>
        $"Host=127.0.0.1;Port={Server.Value.Port};Username=postgres;Database={database};Pooling=true";

    private static void Execute(string sql)
    {
        // Non-pooled: a pooled connection to "postgres" would be harmless, but nothing here needs one.
        using var connection = new NpgsqlConnection(ConnectionString("postgres") + ";Pooling=false");
        connection.Open();
        using var command = new NpgsqlCommand(sql, connection);
        command.ExecuteNonQuery();
    }

    private static PostgresServer StartServer()
    {
        var server = PostgresServer.Start();
        AppDomain.CurrentDomain.ProcessExit += (_, _) => server.Dispose();
        return server;
    }
}
#endif
