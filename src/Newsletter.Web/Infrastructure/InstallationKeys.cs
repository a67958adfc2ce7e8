using System.Collections.Concurrent;
using System.Security.Cryptography;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Newsletter.Web.Data;

namespace Newsletter.Web.Infrastructure;

/// <summary>
/// Random keys this installation makes once and keeps in its database, for MACs that every node must agree
/// on: a bounce or complaint that node A's message causes may reach node B. A key file per node (see
/// <see cref="SecretKeyFile"/>) cannot do that on PostgreSQL. Data Protection was the other choice, but its
/// output is randomised (no stable Message-ID) and it hands out no raw key for an HMAC. Back the table up with
/// the rest: a lost key turns every MAC it made into a forgery, which is then ignored, never believed.
/// </summary>
public sealed class InstallationKeys
{
    private readonly ConcurrentDictionary<string, byte[]> _keys = new(StringComparer.Ordinal);

    private readonly Func<(AppDbContext Db, IDisposable Owner)> _open;

    private readonly AppPaths _paths;

    [ActivatorUtilitiesConstructor]
    public InstallationKeys(IServiceScopeFactory scopes, AppPaths paths)
        : this(() => { var scope = scopes.CreateScope(); return (scope.ServiceProvider.GetRequiredService<AppDbContext>(), scope); }, paths)
    {
    }

    /// <summary>For tools and benchmarks that open their own context; <paramref name="open"/>'s owner is disposed after each use.</summary>
    public InstallationKeys(Func<(AppDbContext Db, IDisposable Owner)> open, AppPaths paths) => (_open, _paths) = (open, paths);

    /// <summary>
    /// The key named <paramref name="name"/>, made on first use. <paramref name="legacyFile"/> names a key file
    /// under data/keys an older version made: when it exists, it seeds the key, so MACs already out in the world
    /// (bounce addresses of mail in flight) stay valid after the upgrade.
    /// </summary>
    public byte[] Get(string name, string? legacyFile = null) => _keys.GetOrAdd(name, n => LoadOrCreate(n, legacyFile));

    private byte[] LoadOrCreate(string name, string? legacyFile)
    {
        var (db, owner) = _open();
        using var _ = owner;
        if (db.InstallationKeys.AsNoTracking().Where(k => k.Name == name).Select(k => k.Value).FirstOrDefault() is { } found)
        {
            return found;
        }

        var file = legacyFile is null ? null : Path.Combine(_paths.DataFolder, "keys", legacyFile);
        var value = file is not null && File.Exists(file) ? File.ReadAllBytes(file) : RandomNumberGenerator.GetBytes(32);
        // ON CONFLICT, not a caught unique violation: two nodes (or two threads) making the key at once is
        // normal, and EF would log the loser's violation as an error. Whoever inserted first, all use theirs.
        db.Database.ExecuteSql($"""INSERT INTO "InstallationKeys" ("Name", "Value") VALUES ({name}, {value}) ON CONFLICT ("Name") DO NOTHING""");
        return db.InstallationKeys.AsNoTracking().Where(k => k.Name == name).Select(k => k.Value).First();
    }
}

/// <summary>One named secret of this installation.</summary>
public sealed class InstallationKey
{
    public string Name { get; set; } = "";

    public byte[] Value { get; set; } = [];
}

internal sealed class InstallationKeyConfiguration : IEntityTypeConfiguration<InstallationKey>
{
    public void Configure(EntityTypeBuilder<InstallationKey> b)
    {
        b.HasKey(k => k.Name);
        b.Property(k => k.Name).HasMaxLength(60);
    }
}
