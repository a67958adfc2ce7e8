using Microsoft.EntityFrameworkCore;
using Newsletter.Testing;
using Newsletter.Web.Data;
using Newsletter.Web.Data.Providers;

namespace Newsletter.Tests.Infrastructure;

/// <summary>Each provider's migration set builds the model on a fresh database, and nothing in the model is left out of it.</summary>
public class MigrationTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.PostgreSql)]
    public async Task TheMigrationsMatchTheModelAndMigrateAFreshDatabase(DatabaseProvider provider)
    {
        var folder = RepoPaths.TempDir("migrations");
        var connectionString = provider == DatabaseProvider.PostgreSql
            ? TestDatabases.CreateEmptyPostgres()
            : $"Data Source={Path.Combine(folder, "fresh.db")};Pooling=false";
        try
        {
            var options = new DbContextOptionsBuilder<AppDbContext>();
            options.UseDatabase(provider, connectionString);
            await using var db = new AppDbContext(options.Options);
            Assert.False(db.Database.HasPendingModelChanges(), $"The model changed without a {provider} migration: dotnet ef migrations add (see README, Migrations).");

            await db.Database.MigrateAsync(Ct);
            Assert.Empty(await db.Database.GetPendingMigrationsAsync(Ct));
            var applied = (await db.Database.GetAppliedMigrationsAsync(Ct)).ToList();
            Assert.Equal(db.Database.GetMigrations(), applied);
            // The tables outside the EF model, kept by each set's triggers, are there too.
            Assert.Empty(await db.Database.SqlQuery<int>($"""SELECT "Status" AS "Value" FROM "SubscriberCounts" """).ToListAsync(Ct));
        }
        finally
        {
            if (provider == DatabaseProvider.PostgreSql)
            {
                TestDatabases.Drop(connectionString);
            }

            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>Existing SQLite databases know their history by these ids; PostgreSQL has its own set.</summary>
    [Fact]
    public void EachProviderSeesOnlyItsOwnMigrations()
    {
        var sqlite = new DbContextOptionsBuilder<AppDbContext>();
        sqlite.UseDatabase(DatabaseProvider.Sqlite, "Data Source=:memory:");
        var postgres = new DbContextOptionsBuilder<AppDbContext>();
        postgres.UseDatabase(DatabaseProvider.PostgreSql, "Host=localhost;Database=none");
        using var sqliteDb = new AppDbContext(sqlite.Options);
        using var postgresDb = new AppDbContext(postgres.Options);

        var sqliteIds = sqliteDb.Database.GetMigrations().ToList();
        Assert.Equal(["20261122232502_Initial", "20261122233855_SubscribersIssuesDeliveries", "20261122234700_Search", "20261123001218_SendRateBuckets", "20261201085547_SubscriberCounts"], sqliteIds.Take(5));
        var postgresIds = postgresDb.Database.GetMigrations().ToList();
        Assert.Contains("20261202011757_Initial", postgresIds);
        Assert.Empty(sqliteIds.Intersect(postgresIds));
    }
}
