using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Newsletter.Web.Webhooks;

/// <summary>A URL that receives signed events, and which events it wants.</summary>
public sealed class WebhookEndpoint
{
    public int Id { get; set; }

    public string Url { get; set; } = "";

    public string Description { get; set; } = "";

    /// <summary>
    /// The event types it receives as ",type,type," (or "*" for all), so the outbox triggers can match a type
    /// with one string search in SQL that SQLite and PostgreSQL both speak.
    /// </summary>
    public string Events { get; set; } = "*";

    public bool Enabled { get; set; } = true;

    /// <summary>"whsec_" + base64 of 32 random bytes. Kept readable: every delivery is signed with it.</summary>
    public string Secret { get; set; } = "";

    /// <summary>The secret before the last rotation; deliveries carry a signature with it too until <see cref="PreviousSecretUntil"/>.</summary>
    public string? PreviousSecret { get; set; }

    public DateTime? PreviousSecretUntil { get; set; }

    public DateTime CreatedAt { get; set; }

    public bool Wants(string type) => Events == "*" || Events.Contains($",{type},", StringComparison.Ordinal);

    public IReadOnlyList<string> EventList => Events == "*" ? WebhookEventTypes.All : Events.Split(',', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>
    /// The URL as the admin shows it: a password in it (https://user:password@host/...) and the values of its query
    /// (where receivers such as Zapier's or Slack's take their token) are replaced by dots, so the page (on a shared
    /// screen, in a screenshot) never shows what the receiver checks. The query's names stay, to tell endpoints apart.
    /// </summary>
    public static string DisplayUrl(string url)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.UserInfo.Length == 0 && uri.Query.Length <= 1))
        {
            return url;
        }

        var builder = new UriBuilder(uri);
        if (uri.UserInfo.Length > 0)
        {
            builder.UserName = uri.UserInfo.Split(':', 2)[0];
            builder.Password = uri.UserInfo.Contains(':', StringComparison.Ordinal) ? Hidden : "";
        }

        if (uri.Query.Length > 1)
        {
            builder.Query = string.Join('&', uri.Query[1..].Split('&').Select(pair => pair.Split('=', 2) is [var name, _] ? $"{name}={Hidden}" : pair));
        }

        return builder.Uri.GetComponents(UriComponents.AbsoluteUri, UriFormat.Unescaped);
    }

    private const string Hidden = "••••";

    /// <summary>Host and path, for the deliveries' table: short enough to leave its other columns room, and
    /// with nothing of the user, password or query a URL may carry.</summary>
    public static string ShortUrl(string url) => Uri.TryCreate(url, UriKind.Absolute, out var uri) ? uri.Authority + uri.AbsolutePath : url;

    public static string EventsOf(IEnumerable<string> types)
    {
        var chosen = types.Where(WebhookEventTypes.All.Contains).Distinct().Order(StringComparer.Ordinal).ToList();
        return chosen.Count == WebhookEventTypes.All.Count ? "*" : "," + string.Join(",", chosen) + ",";
    }
}

public enum WebhookDeliveryStatus
{
    Pending = 0,
    Sending = 1,
    Delivered = 2,
    Failed = 3,
}

/// <summary>
/// One event for one endpoint: the outbox row and its delivery record at once. The database's triggers write it
/// in the transaction that changes the reader, issue or note, so no change commits without its event and no
/// event exists without its change. Its Id gives the stable <c>webhook-id</c> a receiver dedupes on.
/// </summary>
public sealed class WebhookDelivery
{
    public long Id { get; set; }

    public int EndpointId { get; set; }

    public string EventType { get; set; } = "";

    public long? SubscriberId { get; set; }

    public int? IssueId { get; set; }

    public int? NoteId { get; set; }

    public string? Source { get; set; }

    public DateTime OccurredAt { get; set; }

    public DateTime CreatedAt { get; set; }

    public WebhookDeliveryStatus Status { get; set; }

    public int Attempts { get; set; }

    public long NextAttemptAtMs { get; set; }

    public string? LeaseOwner { get; set; }

    public long LeaseExpiresAtMs { get; set; }

    /// <summary>The JSON body, written on the first attempt and sent unchanged on every retry; null until then, and after an erase.</summary>
    public string? Payload { get; set; }

    public int? ResponseCode { get; set; }

    public string? ResponseBody { get; set; }

    public int? DurationMs { get; set; }

    public DateTime? LastAttemptAt { get; set; }

    public string? LastError { get; set; }

    public string WebhookId => $"msg_{Id}";
}

internal sealed class WebhookEndpointConfiguration : IEntityTypeConfiguration<WebhookEndpoint>
{
    public void Configure(EntityTypeBuilder<WebhookEndpoint> b)
    {
        b.Property(e => e.Url).HasMaxLength(2000);
        b.Property(e => e.Description).HasMaxLength(200);
        b.Property(e => e.Events).HasMaxLength(1000);
        b.Property(e => e.Secret).HasMaxLength(100);
        b.Property(e => e.PreviousSecret).HasMaxLength(100);
        b.Ignore(e => e.EventList);
    }
}

internal sealed class WebhookDeliveryConfiguration : IEntityTypeConfiguration<WebhookDelivery>
{
    public void Configure(EntityTypeBuilder<WebhookDelivery> b)
    {
        b.HasOne<WebhookEndpoint>().WithMany().HasForeignKey(d => d.EndpointId).OnDelete(DeleteBehavior.Cascade);
        b.Property(d => d.EventType).HasMaxLength(64);
        b.Property(d => d.Source).HasMaxLength(100);
        b.Property(d => d.LeaseOwner).HasMaxLength(64);
        b.Property(d => d.ResponseBody).HasMaxLength(WebhookOptions.KeptResponseChars);
        b.Property(d => d.LastError).HasMaxLength(1000);
        b.Ignore(d => d.WebhookId);
        // The dispatcher's claim: due rows by state and time.
        b.HasIndex(d => new { d.Status, d.NextAttemptAtMs });
        // The admin page: an endpoint's last deliveries. And an erase: every row of one reader.
        b.HasIndex(d => new { d.EndpointId, d.Id });
        b.HasIndex(d => d.SubscriberId);
    }
}
