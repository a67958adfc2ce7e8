namespace Newsletter.Web.Archive;

/// <summary>The "Archive" section of appsettings.json: how much the public archive, feeds and search show at once.</summary>
public sealed class ArchiveOptions
{
    /// <summary>Issues per archive page; the archive is a long list, so more than the notes page.</summary>
    public int PageSize { get; set; } = 30;

    /// <summary>Entries in each feed: enough for a reader who checks weekly, small enough to stay fast.</summary>
    public int FeedItems { get; set; } = 20;

    public int SearchPageSize { get; set; } = 10;

    /// <summary>How long a rendered public page may be served from memory if no content change evicts it first.</summary>
    public TimeSpan CacheDuration { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Bytes of whole pages kept for anonymous readers at the front of the pipeline (PublicPageCache); 0 turns it
    /// off, and pages are then answered by the output cache behind authentication and routing.
    /// </summary>
    public long PageCacheBytes { get; set; } = 32L * 1024 * 1024;
}
