using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Newsletter.Web.Sending;

namespace Newsletter.Web.Welcome;

/// <summary>
/// One step of the welcome series: a published note (by slug) or a written email, sent
/// <see cref="DelayDays"/> after the reader finished the previous step (after confirming, for the first).
/// Its content is read when each copy is sent, so an edit reaches every reader who has not got it yet.
/// </summary>
public sealed class WelcomeStep
{
    public int Id { get; set; }

    /// <summary>The order in the series; only the order matters, the numbers may have gaps.</summary>
    public int Position { get; set; }

    public int DelayDays { get; set; }

    /// <summary>Set for a note step: the note's slug, looked up (published, not deleted) at send time.</summary>
    public string? NoteSlug { get; set; }

    /// <summary>The subject of a written email; for a note step, an optional replacement for the note's title.</summary>
    public string Subject { get; set; } = "";

    public string Markdown { get; set; } = "";

    /// <summary>The Markdown rendered and sanitised when the step was saved.</summary>
    public string Html { get; set; } = "";

    public DateTime UpdatedAt { get; set; }

    /// <summary>Removed steps keep their ledger rows (who got what stays true) and are never sent again.</summary>
    public DateTime? RemovedAt { get; set; }

    public bool IsNote => NoteSlug is not null;
}

/// <summary>A reader in the series: joined when they confirmed, and maybe left it (while staying subscribed).</summary>
public sealed class WelcomeReader
{
    public long SubscriberId { get; set; }

    public long JoinedAtMs { get; set; }

    public long? LeftAtMs { get; set; }
}

/// <summary>The series' switch. One row (Id 1), written the first time it is paused; no row means running.</summary>
public sealed class WelcomeSettings
{
    public int Id { get; set; }

    public bool Paused { get; set; }

    public DateTime? ChangedAt { get; set; }
}

/// <summary>
/// The welcome ledger: one row per (step, reader), unique, created by the due check and moved by the sender with
/// the states and leases of issue <see cref="Delivery"/> rows. It is a table of its own because the issue ledger's
/// rows, triggers, counts and lease upkeep are all keyed by an issue.
/// </summary>
public sealed class WelcomeDelivery
{
    public long Id { get; set; }

    public int StepId { get; set; }

    public long SubscriberId { get; set; }

    public DeliveryStatus Status { get; set; }

    public int Attempts { get; set; }

    public string? LeaseOwner { get; set; }

    public long LeaseExpiresAtMs { get; set; }

    public long NextAttemptAtMs { get; set; }

    /// <summary>
    /// Set in its own statement just before the message goes to the relay. A lease that runs out with this set may
    /// have delivered: the row is Held, never sent again on its own. Without it, nothing left, and the row is simply taken again.
    /// </summary>
    public bool InFlight { get; set; }

    public bool Uncertain { get; set; }

    public long CreatedAtMs { get; set; }

    /// <summary>When the row reached Sent, Failed or Skipped: the next step's delay counts from here.</summary>
    public long? FinishedAtMs { get; set; }

    public int? SmtpCode { get; set; }

    public string? LastError { get; set; }
}

internal sealed class WelcomeStepConfiguration : IEntityTypeConfiguration<WelcomeStep>
{
    public void Configure(EntityTypeBuilder<WelcomeStep> b)
    {
        b.ToTable("WelcomeSteps");
        b.HasIndex(s => s.Position);
        b.Property(s => s.NoteSlug).HasMaxLength(200);
        b.Property(s => s.Subject).HasMaxLength(300);
    }
}

internal sealed class WelcomeReaderConfiguration : IEntityTypeConfiguration<WelcomeReader>
{
    public void Configure(EntityTypeBuilder<WelcomeReader> b)
    {
        b.ToTable("WelcomeReaders");
        b.HasKey(r => r.SubscriberId);
        b.Property(r => r.SubscriberId).ValueGeneratedNever();
    }
}

internal sealed class WelcomeSettingsConfiguration : IEntityTypeConfiguration<WelcomeSettings>
{
    public void Configure(EntityTypeBuilder<WelcomeSettings> b)
    {
        b.ToTable("WelcomeSeries");
        b.Property(s => s.Id).ValueGeneratedNever();
    }
}

internal sealed class WelcomeDeliveryConfiguration : IEntityTypeConfiguration<WelcomeDelivery>
{
    public void Configure(EntityTypeBuilder<WelcomeDelivery> b)
    {
        b.ToTable("WelcomeDeliveries");
        b.HasIndex(d => new { d.StepId, d.SubscriberId }).IsUnique();
        b.HasIndex(d => new { d.Status, d.NextAttemptAtMs });
        b.HasIndex(d => d.SubscriberId);
        b.Property(d => d.LeaseOwner).HasMaxLength(100);
        b.Property(d => d.LastError).HasMaxLength(1000);
    }
}
