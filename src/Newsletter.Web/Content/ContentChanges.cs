using System.ComponentModel.DataAnnotations;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Microsoft.Extensions.Options;
using Newsletter.Web.Data;

namespace Newsletter.Web.Content;

/// <summary>
/// One place that says "public content changed". The change is counted in the database (one row, one
/// number), so every node, and a command run in another process like import-notes, learns of it from the
/// same row: this node drops its cached pages once the change is committed, the others within
/// <see cref="ContentChangesOptions.ChangePollInterval"/> through <see cref="ContentVersionWatcher"/>.
/// </summary>
public sealed class ContentChanges(AppDbContext db, ContentCaches caches)
{
    public const string Tag = "content";

    /// <summary>After a change that is already committed (a set-based update, or a SaveChanges of its own).</summary>
    public Task NotesChangedAsync(CancellationToken ct = default) => ChangedAsync(ct);

    /// <inheritdoc cref="NotesChangedAsync"/>
    public Task IssuesChangedAsync(CancellationToken ct = default) => ChangedAsync(ct);

    /// <summary>
    /// Begins a transaction for a change to public content; <see cref="ContentChange.CommitAsync"/> counts the
    /// change in it, commits, and only then drops this node's caches. A change and its count then commit
    /// together, so no stop between them can leave other nodes showing the old content.
    /// </summary>
    public async Task<ContentChange> BeginAsync(CancellationToken ct) =>
        new(this, await db.Database.BeginTransactionAsync(ct));

    private async Task ChangedAsync(CancellationToken ct)
    {
        var version = await CountAsync(ct);
        // Inside someone's transaction (BeginAsync is the way there) the caches must wait for the commit, or a
        // request could cache the old page again in between: the watcher drops them once it reads the count.
        if (db.Database.CurrentTransaction is null)
        {
            await caches.RecordAsync(version, ct);
        }
    }

    /// <summary>Adds one to the content version and returns it (this change's, or a later one's).</summary>
    internal async Task<long> CountAsync(CancellationToken ct)
    {
        // Set-based, so two nodes counting at once both count; the same statements on PostgreSQL and SQLite.
        await db.ContentVersions.Where(v => v.Id == ContentVersion.RowId)
            .ExecuteUpdateAsync(u => u.SetProperty(v => v.Version, v => v.Version + 1), ct);
        return await db.ContentVersions.AsNoTracking().Where(v => v.Id == ContentVersion.RowId).Select(v => v.Version).SingleAsync(ct);
    }

    internal Task RecordAsync(long version, CancellationToken ct) => caches.RecordAsync(version, ct);
}

/// <summary>A transaction that changes public content: commit it with <see cref="CommitAsync"/>, or dispose it to roll back.</summary>
public sealed class ContentChange(ContentChanges changes, Microsoft.EntityFrameworkCore.Storage.IDbContextTransaction transaction) : IAsyncDisposable
{
    /// <summary>Counts the change (unless nothing changed), commits, then drops this node's cached pages.</summary>
    public async Task CommitAsync(bool changed, CancellationToken ct)
    {
        var version = changed ? await changes.CountAsync(ct) : (long?)null;
        await transaction.CommitAsync(ct);
        if (version is { } committed)
        {
            await changes.RecordAsync(committed, ct);
        }
    }

    public ValueTask DisposeAsync() => transaction.DisposeAsync();
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
    private readonly Lock _lock = new();
    private long _generation;
    private long? _seenVersion;
    private long _recorded;

    public long Generation => Interlocked.Read(ref _generation);

    /// <summary>Moves with every change recorded here, so the watcher can tell a read that is older than it.</summary>
    public long Recorded
    {
        get
        {
            lock (_lock)
            {
                return _recorded;
            }
        }
    }

    /// <summary>A change on this node, committed at <paramref name="version"/>: drop the caches, and let the watcher know it need not.</summary>
    public async Task RecordAsync(long version, CancellationToken ct)
    {
        lock (_lock)
        {
            _seenVersion = version;
            _recorded++;
        }

        await InvalidateAsync(ct);
    }

    /// <summary>
    /// The database's version, read when <see cref="Recorded"/> was <paramref name="recorded"/>: drops the
    /// caches when it moved since the last look (and on the first). A read from before a change recorded
    /// here is ignored; the next one tells.
    /// </summary>
    public async Task<bool> ObserveAsync(long version, long recorded, CancellationToken ct)
    {
        lock (_lock)
        {
            if (recorded != _recorded || _seenVersion == version)
            {
                return false;
            }

            // The first look drops them too: a page cached before it may predate a change this node never saw.
            _seenVersion = version;
        }

        await InvalidateAsync(ct);
        return true;
    }

    /// <summary>The version could not be read: nothing cached can be trusted, and the next good read evicts again.</summary>
    public async Task ForgetAsync(CancellationToken ct)
    {
        lock (_lock)
        {
            _seenVersion = null;
        }

        await InvalidateAsync(ct);
    }

    private async Task InvalidateAsync(CancellationToken ct)
    {
        Interlocked.Increment(ref _generation);
        if (services.GetService<IOutputCacheStore>() is { } store)
        {
            await store.EvictByTagAsync(ContentChanges.Tag, ct);
        }
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
                var recorded = caches.Recorded;
                var version = await db.ContentVersions.AsNoTracking().Where(v => v.Id == ContentVersion.RowId).Select(v => v.Version).SingleAsync(stoppingToken);
                if (await caches.ObserveAsync(version, recorded, stoppingToken))
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
