using Microsoft.AspNetCore.OutputCaching;

namespace Newsletter.Web.Content;

/// <summary>
/// One place that says "public content changed", so every cached page and feed that shows it is evicted
/// at once. Output cache entries are tagged "content".
/// </summary>
public sealed class ContentChanges(IServiceProvider services)
{
    public const string Tag = "content";

    public Task NotesChangedAsync(CancellationToken ct = default) => EvictAsync(ct);

    public Task IssuesChangedAsync(CancellationToken ct = default) => EvictAsync(ct);

    private async Task EvictAsync(CancellationToken ct)
    {
        if (services.GetService<IOutputCacheStore>() is { } store)
        {
            await store.EvictByTagAsync(Tag, ct);
        }
    }
}
