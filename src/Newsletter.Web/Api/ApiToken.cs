using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Newsletter.Web.Api;

/// <summary>What a token may do. Stored as flags, so adding a scope later needs no migration.</summary>
[Flags]
public enum ApiScopes
{
    None = 0,

    /// <summary>Read subscribers, notes, issues, imports, suppressions and events.</summary>
    Read = 1,

    /// <summary>Change subscribers, notes and issue drafts, upload imports, add suppressions.</summary>
    Write = 2,

    /// <summary>Test-send, schedule, send, pause, resume and cancel issues: mail to real readers.</summary>
    Send = 4,

    /// <summary>Scrape /metrics, and nothing else.</summary>
    Metrics = 8,
}

/// <summary>
/// A bearer token for the API, made by an author in the admin. Only a SHA-256 of the secret is kept: the secret
/// is shown once, when it is made, and a copy of the database can't be used to call the API.
/// </summary>
public sealed class ApiToken
{
    public int Id { get; set; }

    /// <summary>What the author called it ("CI import script", "Prometheus").</summary>
    public string Name { get; set; } = "";

    /// <summary>The first characters of the secret, so an author can tell which token a leaked string is.</summary>
    public string Prefix { get; set; } = "";

    /// <summary>SHA-256 of the whole secret, lower-case hex.</summary>
    public string Hash { get; set; } = "";

    public ApiScopes Scopes { get; set; }

    /// <summary>The author who made it (AspNetUsers.Id), and their name at the time, which outlives the account.</summary>
    public string CreatedById { get; set; } = "";

    public string CreatedByName { get; set; } = "";

    public DateTime CreatedAt { get; set; }

    /// <summary>Null: valid until revoked.</summary>
    public DateTime? ExpiresAt { get; set; }

    /// <summary>Written at most once a minute per token (<see cref="ApiTokens.LastUsedResolution"/>).</summary>
    public DateTime? LastUsedAt { get; set; }

    public DateTime? RevokedAt { get; set; }

    public string? RevokedByName { get; set; }

    public bool IsActive(DateTime now) => RevokedAt is null && (ExpiresAt is null || ExpiresAt > now);
}

internal sealed class ApiTokenConfiguration : IEntityTypeConfiguration<ApiToken>
{
    public void Configure(EntityTypeBuilder<ApiToken> b)
    {
        b.HasIndex(t => t.Hash).IsUnique();
        b.Property(t => t.Name).HasMaxLength(100);
        b.Property(t => t.Prefix).HasMaxLength(20);
        b.Property(t => t.Hash).HasMaxLength(64);
        b.Property(t => t.CreatedById).HasMaxLength(450);
        b.Property(t => t.CreatedByName).HasMaxLength(256);
        b.Property(t => t.RevokedByName).HasMaxLength(256);
    }
}
