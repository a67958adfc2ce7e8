using System.Reflection;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace Newsletter.Web.Data.Providers;

/// <summary>
/// Both migration sets live in this assembly; EF would apply every migration it finds. This picks the set of
/// the provider the context runs on: PostgreSQL's in Data/Migrations/PostgreSql (its own namespace), SQLite's
/// everything else, so the SQLite history keeps its folder and its ids and a new SQLite migration made with
/// the default `dotnet ef migrations add` joins the right set. Chosen from the context's provider, not from
/// configuration, so a context built by hand (tools, tests, benchmarks) migrates correctly too.
/// </summary>
internal sealed class ProviderMigrationsAssembly(ICurrentDbContext currentContext) : IMigrationsAssembly
{
    public const string PostgreSqlNamespace = "Newsletter.Web.Data.Migrations.PostgreSql";

    private readonly Lazy<(IReadOnlyDictionary<string, TypeInfo> Migrations, ModelSnapshot? Snapshot)> _set = new(() => Load(currentContext.Context));

    public Assembly Assembly => typeof(AppDbContext).Assembly;

    public IReadOnlyDictionary<string, TypeInfo> Migrations => _set.Value.Migrations;

    public ModelSnapshot? ModelSnapshot => _set.Value.Snapshot;

    public string? FindMigrationId(string nameOrId) =>
        Migrations.Keys.FirstOrDefault(id => string.Equals(id, nameOrId, StringComparison.OrdinalIgnoreCase)
            || string.Equals(id[(id.IndexOf('_', StringComparison.Ordinal) + 1)..], nameOrId, StringComparison.OrdinalIgnoreCase));

    public Migration CreateMigration(TypeInfo migrationClass, string activeProvider)
    {
        var migration = (Migration)Activator.CreateInstance(migrationClass.AsType())!;
        migration.ActiveProvider = activeProvider;
        return migration;
    }

    private static (IReadOnlyDictionary<string, TypeInfo>, ModelSnapshot?) Load(DbContext context)
    {
        var postgres = context.Database.IsNpgsql();
        var contextType = context.GetType();
        var types = typeof(AppDbContext).Assembly.DefinedTypes
            .Where(t => !t.IsAbstract && t.GetCustomAttribute<DbContextAttribute>()?.ContextType == contextType
                && (t.Namespace == PostgreSqlNamespace) == postgres)
            .ToList();

        var migrations = new SortedDictionary<string, TypeInfo>(StringComparer.Ordinal);
        foreach (var type in types.Where(t => t.IsSubclassOf(typeof(Migration))))
        {
            var id = type.GetCustomAttribute<MigrationAttribute>()?.Id
                ?? throw new InvalidOperationException($"Migration {type.FullName} has no [Migration] id.");
            migrations.Add(id, type);
        }

        var snapshot = types.Where(t => t.IsSubclassOf(typeof(ModelSnapshot)))
            .Select(t => (ModelSnapshot)Activator.CreateInstance(t.AsType())!)
            .SingleOrDefault();
        return (migrations, snapshot);
    }
}
