using System.ComponentModel.DataAnnotations;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Microsoft.Extensions.Options;
using Newsletter.Web.Data;

namespace Newsletter.Web.Content;

/// <summary>
/// One place that says "public content changed". The change is counted in the database, in the caller's
/// transaction when one is open, so every node (and a command run in another process, like import-notes)
/// is told by the same row; this node's caches are dropped at once, the others' within
/// <see cref="ContentChangesOptions.ChangePollInterval"/> by <see cref="ContentVersionWatcher"/>.
/// </summary>
public sealed class ContentChanges(AppDbContext db, ContentCaches caches)
{
    public const string Tag = "content";

    public Task NotesChangedAsync(CancellationToken ct = default) => RecordAsync(ct);

    public Task IssuesChangedAsync(CancellationToken ct = default) => RecordAsync(ct);

    private async Task RecordAsync(CancellationToken ct)
    {
        // Set-based, so two nodes bumping at once both count; one statement that PostgreSQL and SQLite share.
        await db.ContentVersions.Where(v => v.Id == ContentVersion.RowId)
            .ExecuteUpdateAsync(u => u.SetProperty(v => v.Version, v => v.Version + 1), ct);
        // Inside an open transaction a request may still cache the old page between this and the commit;
        // the watcher sees the committed version a moment later and drops that copy too.
        await caches.InvalidateAsync(ct);
    }
}

/// <summary>The one row that counts changes to public content. Nodes compare it with what they last saw.</summary>
public sealed class ContentVersion
{
    public const int RowId = 1;

    public int Id { get; set; }

    public long Version { get; set; }
}

internal sealed class ContentVersionConfiguration : IEntityTypeConfiguration<ContentVersion>
{
    public void Configure(EntityTypeBuilder<ContentVersion> b)
    {
        b.HasKey(x => x.Id);
        b.Property(x => x.Id).ValueGeneratedNever();
        // Created with the table, so a bump is always an UPDATE and never a race to insert.
        b.HasData(new ContentVersion { Id = ContentVersion.RowId, Version = 0 });
    }
}

/// <summary>
/// This node's cached public pages. Every invalidation starts a new generation, and the output cache keys
/// pages by generation (<see cref="Archive.PublicContentPolicy"/>): a page rendered from old content and
/// stored after the eviction sits under a key no request asks for any more, instead of being served.
/// </summary>
public sealed class ContentCaches(IServiceProvider services)
{
    private long _generation;
    private long? _seenVersion;

    public long Generation => Interlocked.Read(ref _generation);

    /// <summary>Drops every cached public page on this node.</summary>
    public async Task InvalidateAsync(CancellationToken ct)
    {
        Interlocked.Increment(ref _generation);
        if (services.GetService<IOutputCacheStore>() is { } store)
        {
            await store.EvictByTagAsync(ContentChanges.Tag, ct);
        }
    }

    /// <summary>Called with the database's version; drops the caches when it moved since the last look (or on the first).</summary>
    public async Task<bool> ObserveAsync(long version, CancellationToken ct)
    {
        if (_seenVersion == version)
        {
            return false;
        }

        // The first look drops them too: a page cached before it may predate a change this node never saw.
        _seenVersion = version;
        await InvalidateAsync(ct);
        return true;
    }

    /// <summary>The version could not be read: nothing cached can be trusted, and the next good read evicts again.</summary>
    public async Task ForgetAsync(CancellationToken ct)
    {
        _seenVersion = null;
        await InvalidateAsync(ct);
    }
}

/// <summary>
/// Reads the content version every <see cref="ContentChangesOptions.ChangePollInterval"/> and drops this node's
/// cached pages when another node or process changed content. One integer from one row by its key: cheaper
/// than any page it protects, and it works the same on SQLite and PostgreSQL.
/// </summary>
public sealed class ContentVersionWatcher(IServiceProvider services, ContentCaches caches, IOptions<ContentChangesOptions> options, ILogger<ContentVersionWatcher> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.ChangePollInterval);
        var failing = false;
        do
        {
            try
            {
                await using var scope = services.CreateAsyncScope();
                var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
                var version = await db.ContentVersions.AsNoTracking().Where(v => v.Id == ContentVersion.RowId).Select(v => v.Version).SingleAsync(stoppingToken);
                if (await caches.ObserveAsync(version, stoppingToken))
                {
                    logger.LogDebug("Content version {Version}: cached public pages dropped", version);
                }

                if (failing)
                {
                    failing = false;
                    logger.LogInformation("The content version can be read again; cached pages follow other nodes' changes");
                }
            }
            catch (Exception e) when (e is System.Data.Common.DbException or InvalidOperationException or TimeoutException && !stoppingToken.IsCancellationRequested)
            {
                // Pages are then rendered fresh from the database until the version can be read again.
                await caches.ForgetAsync(stoppingToken);
                if (!failing)
                {
                    failing = true;
                    logger.LogWarning(e, "Could not read the content version; public pages are not cached until it can be read");
                }
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }
}

/// <summary>The "Content" section of appsettings.json.</summary>
public sealed class ContentChangesOptions
{
    /// <summary>How soon a node notices that another node or a command changed public content.</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:01:00")]
    public TimeSpan ChangePollInterval { get; set; } = TimeSpan.FromSeconds(1);
}

public static class ContentChangesExtensions
{
    public static IServiceCollection AddContentChanges(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<ContentChangesOptions>().Bind(configuration.GetSection("Content")).ValidateDataAnnotations().ValidateOnStart();
        services.AddScoped<ContentChanges>();
        services.AddSingleton<ContentCaches>();
        services.AddHostedService<ContentVersionWatcher>();
        return services;
    }
}
