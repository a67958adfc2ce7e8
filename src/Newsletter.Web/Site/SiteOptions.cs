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

    /// <summary>
    /// What stops the start: a zone this machine does not know (every time the admin shows would be UTC labelled
    /// with the typed name), and a line break in a value that goes into email headers (List-Id, From), which made
    /// every send fail in its job instead of at start.
    /// </summary>
    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        if (!TimeZoneInfo.TryFindSystemTimeZoneById(TimeZone, out _))
        {
            problems.Add($"Site:TimeZone '{TimeZone}' is not a time zone this machine knows: use an IANA name such as Europe/Berlin, America/New_York or UTC.");
        }

        // Without a scheme and host every link in every email was written as "news.example.org/confirm/…",
        // which no mail client opens, and the start warned only that links "point at this machine".
        if (!Uri.TryCreate(BaseUrl, UriKind.Absolute, out var baseUrl) || baseUrl.Scheme is not ("http" or "https") || baseUrl.Host.Length == 0
            || baseUrl.Query.Length > 0 || baseUrl.Fragment.Length > 0)
        {
            problems.Add($"Site:BaseUrl '{BaseUrl}' is not a web address: write it whole, as readers open it, such as https://news.example.org.");
        }

        foreach (var (key, value) in new[] { ("Site:Title", Title), ("Site:AuthorName", AuthorName), ("Site:Tagline", Tagline) })
        {
            if (!Infrastructure.OneLine.Holds(value))
            {
                problems.Add($"{key} holds a line break or a control character: it goes into email headers and must be one line.");
            }
        }

        return problems;
    }

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

/// <summary>Says each unusable Site setting by name, so the start-up error is a sentence to act on.</summary>
public sealed class SiteOptionsCheck : Microsoft.Extensions.Options.IValidateOptions<SiteOptions>
{
    public Microsoft.Extensions.Options.ValidateOptionsResult Validate(string? name, SiteOptions options) =>
        options.Problems() is { Count: > 0 } problems
            ? Microsoft.Extensions.Options.ValidateOptionsResult.Fail(problems)
            : Microsoft.Extensions.Options.ValidateOptionsResult.Success;
}
