using System.Security.Cryptography;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Newsletter.Web.Subscribers;

public enum SubscriberStatus
{
    Pending = 0,
    Active = 1,
    Unsubscribed = 2,
    Bounced = 3,
    Complained = 4,
}

/// <summary>A reader on the list. The address is unique by its lower-cased form (EmailKey).</summary>
public sealed class Subscriber
{
    public long Id { get; set; }

    /// <summary>The address as the reader gave it (domain lower-cased).</summary>
    public string Email { get; set; } = "";

    /// <summary>Lower-cased address: the identity used for uniqueness, suppression and imports.</summary>
    public string EmailKey { get; set; } = "";

    public string? Name { get; set; }

    public SubscriberStatus Status { get; set; }

    /// <summary>Where the subscription came from: a page (home, about, note), "admin", "api" or "import:ID".</summary>
    public string Source { get; set; } = "";

    /// <summary>For imports and manual adds made active without double opt-in: the recorded consent.</summary>
    public string? ConsentSource { get; set; }

    public DateTime CreatedAt { get; set; } = DateTime.UtcNow;

    public DateTime? ConfirmedAt { get; set; }

    public DateTime? UnsubscribedAt { get; set; }

    public DateTime? LastConfirmationSentAt { get; set; }

    public DateTime? PausedUntil { get; set; }

    /// <summary>Bumped when a confirmation is used, so each confirmation link works once.</summary>
    public int TokenVersion { get; set; }

    public List<SubscriberTag> Tags { get; set; } = [];

    /// <summary>
    /// The reader's choice on the preferences page: true for "only issues on my topics" (their tags), false for
    /// everything. A reader with no topics gets everything either way.
    /// </summary>
    public bool TopicsOnly { get; set; }

    public bool IsReceiving(DateTime now) => Status == SubscriberStatus.Active && (PausedUntil is null || PausedUntil <= now);

    public static string KeyOf(string email) => email.Trim().ToLowerInvariant();

}

public sealed class SubscriberTag
{
    public long SubscriberId { get; set; }

    public string Tag { get; set; } = "";
}

public enum SubscriberEventKind
{
    Subscribed = 0,
    ConfirmationSent = 1,
    Confirmed = 2,
    WelcomeSent = 3,
    AlreadySubscribedNoticeSent = 4,
    Unsubscribed = 5,
    PreferencesChanged = 6,
    IssueSent = 7,
    Bounced = 8,
    Complained = 9,
    Imported = 10,
    EditedByAuthor = 11,
    AddedByAuthor = 12,
    IssueFailed = 13,
}

/// <summary>One line of a subscriber's history: what happened, when, and from where.</summary>
public sealed class SubscriberEvent
{
    public long Id { get; set; }

    public long SubscriberId { get; set; }

    public DateTime At { get; set; } = DateTime.UtcNow;

    public SubscriberEventKind Kind { get; set; }

    public string Source { get; set; } = "";

    public string? Detail { get; set; }
}

public enum SuppressionReason
{
    Erased = 0,
    HardBounce = 1,
    Complaint = 2,
    Manual = 3,
}

/// <summary>An address that must never be mailed or imported again, kept only as a SHA-256 hash.</summary>
public sealed class Suppression
{
    public long Id { get; set; }

    /// <summary>The address's <see cref="AddressHashes"/> hash.</summary>
    public string EmailHash { get; set; } = "";

    /// <summary>A plain SHA-256 an older version wrote, re-keyed at start-up (<see cref="AddressHashes.UpgradeLegacyAsync"/>).</summary>
    public bool LegacyHash { get; set; }

    public SuppressionReason Reason { get; set; }

    public DateTime CreatedAt { get; set; } = DateTime.UtcNow;
}

internal sealed class SubscriberConfiguration : IEntityTypeConfiguration<Subscriber>
{
    public void Configure(EntityTypeBuilder<Subscriber> b)
    {
        b.HasIndex(s => s.EmailKey).IsUnique();
        b.HasIndex(s => new { s.Status, s.Id });
        b.HasIndex(s => s.CreatedAt);
        b.Property(s => s.Email).HasMaxLength(254);
        b.Property(s => s.EmailKey).HasMaxLength(254);
        b.Property(s => s.Name).HasMaxLength(200);
        b.Property(s => s.Source).HasMaxLength(60);
        b.Property(s => s.ConsentSource).HasMaxLength(500);
        b.HasMany(s => s.Tags).WithOne().HasForeignKey(t => t.SubscriberId).OnDelete(DeleteBehavior.Cascade);
        // The foreign key from SubscriberEvents is SQLite's only: see AppDbContext.OnModelCreating.
    }
}

internal sealed class SubscriberTagConfiguration : IEntityTypeConfiguration<SubscriberTag>
{
    public void Configure(EntityTypeBuilder<SubscriberTag> b)
    {
        b.HasKey(t => new { t.SubscriberId, t.Tag });
        b.HasIndex(t => t.Tag);
        b.Property(t => t.Tag).HasMaxLength(40);
    }
}

internal sealed class SubscriberEventConfiguration : IEntityTypeConfiguration<SubscriberEvent>
{
    public void Configure(EntityTypeBuilder<SubscriberEvent> b)
    {
        b.HasIndex(e => new { e.SubscriberId, e.At });
        b.Property(e => e.Source).HasMaxLength(60);
        b.Property(e => e.Detail).HasMaxLength(1000);
    }
}

internal sealed class SuppressionConfiguration : IEntityTypeConfiguration<Suppression>
{
    public void Configure(EntityTypeBuilder<Suppression> b)
    {
        b.HasIndex(s => s.EmailHash).IsUnique();
        b.Property(s => s.EmailHash).HasMaxLength(64);
        // Almost always empty: start-up finds the rows left to re-key without reading the table.
        b.HasIndex(s => s.LegacyHash).HasFilter("\"LegacyHash\"");
    }
}
