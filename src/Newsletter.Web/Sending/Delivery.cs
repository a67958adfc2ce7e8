using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Newsletter.Web.Sending;

/// <summary>Pending → Sending (leased) → Sent | Deferred (retry later) | Failed (permanent) | Skipped | Held (the author decides).</summary>
public enum DeliveryStatus
{
    Pending = 0,
    Sending = 1,
    Sent = 2,
    Deferred = 3,
    Failed = 4,
    Skipped = 5,

    /// <summary>
    /// Cut short twice (a crash or lost reply, then another): the reader may hold two copies already, so it is
    /// not sent a third time until the author decides (resend from the progress page).
    /// </summary>
    Held = 6,
}

/// <summary>
/// The ledger: one row per (issue, subscriber), written by the snapshot and moved by the workers. Times
/// on the hot path are Unix milliseconds so the claim statement compares integers on both databases.
/// </summary>
public sealed class Delivery
{
    public long Id { get; set; }

    public int IssueId { get; set; }

    public long SubscriberId { get; set; }

    public DeliveryStatus Status { get; set; }

    public int Attempts { get; set; }

    /// <summary>The worker holding the lease while Status is Sending.</summary>
    public string? LeaseOwner { get; set; }

    public long LeaseExpiresAtMs { get; set; }

    /// <summary>When a Pending or Deferred delivery may be claimed.</summary>
    public long NextAttemptAtMs { get; set; }

    public long? SentAtMs { get; set; }

    /// <summary>When the last outcome (sent, deferred, failed, bounced later) was written: the issue's chart puts deferrals and failures on its time axis with it.</summary>
    public long? LastAttemptAtMs { get; set; }

    public int? SmtpCode { get; set; }

    public string? LastError { get; set; }

    /// <summary>
    /// The lease expired while the message was in flight, so the server may have accepted it before the
    /// crash: a resend may be a duplicate. The ledger says so instead of hiding it.
    /// </summary>
    public bool Uncertain { get; set; }

    /// <summary>
    /// Its message was started: written before the message goes to the relay and cleared with its outcome,
    /// both in the node's group commit. A lease that runs out on a row in flight is a possible duplicate
    /// (taken again as Uncertain); a lease that runs out on a row its worker never reached is not.
    /// </summary>
    public bool InFlight { get; set; }
}

internal sealed class DeliveryConfiguration : IEntityTypeConfiguration<Delivery>
{
    public void Configure(EntityTypeBuilder<Delivery> b)
    {
        b.HasIndex(d => new { d.IssueId, d.SubscriberId }).IsUnique();
        b.HasIndex(d => new { d.IssueId, d.Status, d.NextAttemptAtMs });
        b.HasIndex(d => d.SubscriberId);
        b.Property(d => d.LeaseOwner).HasMaxLength(100);
        b.Property(d => d.LastError).HasMaxLength(1000);
        // No foreign key to Issues: its check ran once per row, and at a million readers it was half of the
        // PostgreSQL snapshot's time. Each migration set keeps the same integrity with triggers instead (a
        // delivery names an existing issue; deleting an issue deletes its deliveries): PostgreSQL checks a
        // whole insert once, over its transition table (Data/Migrations/PostgreSql/*DeliveriesIssueCheck.cs).
    }
}
