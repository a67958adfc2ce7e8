namespace Newsletter.Web.Site;

/// <summary>The "Site" section of appsettings.json: who publishes, and where.</summary>
public sealed class SiteOptions
{
    public string Title { get; set; } = "Newsletter";

    public string Tagline { get; set; } = "";

    /// <summary>The public address; used for canonical URLs, feeds and links in emails.</summary>
    public string BaseUrl { get; set; } = "http://localhost:5000";

    public string Language { get; set; } = "en";

    public string AuthorName { get; set; } = "";

    /// <summary>The author's time zone (IANA id): schedules are shown in it and stored as UTC.</summary>
    public string TimeZone { get; set; } = "UTC";

    public string FooterText { get; set; } = "";

    public int PageSize { get; set; } = 10;

    public string Absolute(string path) => BaseUrl.TrimEnd('/') + "/" + path.TrimStart('/');

    public TimeZoneInfo Zone => TimeZoneInfo.TryFindSystemTimeZoneById(TimeZone, out var zone) ? zone : TimeZoneInfo.Utc;

    public DateTime ToLocal(DateTime utc) => TimeZoneInfo.ConvertTimeFromUtc(DateTime.SpecifyKind(utc, DateTimeKind.Utc), Zone);

    /// <summary>
    /// A stored UTC time as the admin shows it: in the author's zone, named. Every admin page uses this, so the
    /// outbox, a reader's history and a schedule never disagree by the zone's offset.
    /// </summary>
    public string LocalText(DateTime utc, string format = "d MMM yyyy, HH:mm") =>
        ToLocal(utc).ToString(format, System.Globalization.CultureInfo.InvariantCulture) + " " + TimeZone;
}
