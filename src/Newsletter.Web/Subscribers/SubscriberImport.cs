using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Newsletter.Web.Subscribers;

public enum ImportStatus
{
    Queued = 0,
    Running = 1,
    Completed = 2,
    Failed = 3,
}

/// <summary>A CSV import: the file waits among the ImportFiles (data/imports/, or the database on PostgreSQL), a Hangfire job streams it, counts land here.</summary>
public sealed class SubscriberImport
{
    public int Id { get; set; }

    public string FileName { get; set; } = "";

    public long FileSize { get; set; }

    public ImportStatus Status { get; set; }

    /// <summary>True: rows become Active with ConsentSource recorded. False: Pending, and confirmations are sent.</summary>
    public bool ImportAsActive { get; set; }

    public string? ConsentSource { get; set; }

    /// <summary>Tags added to every imported row, comma-separated.</summary>
    public string? Tags { get; set; }

    public long BytesRead { get; set; }

    public int Rows { get; set; }

    public int Imported { get; set; }

    public int Duplicates { get; set; }

    public int Suppressed { get; set; }

    public int Invalid { get; set; }

    /// <summary>Rows whose export says the reader left (unsubscribed, bounced, complained): new readers in that state, or readers on the list it moved there. Never mailed.</summary>
    public int NotMailed { get; set; }

    /// <summary>The platform whose export this is ("Mailchimp"...), recognised by the header; null for a CSV of the author's own.</summary>
    public string? Platform { get; set; }

    /// <summary>How the columns were read, in words: "email ← Email Address; tags ← TAGS; ...".</summary>
    public string? Mapping { get; set; }

    public string? Error { get; set; }

    public DateTime CreatedAt { get; set; } = DateTime.UtcNow;

    public DateTime? StartedAt { get; set; }

    public DateTime? FinishedAt { get; set; }

    public int Percent => FileSize <= 0 ? 0 : (int)Math.Clamp(BytesRead * 100 / FileSize, 0, 100);
}

internal sealed class SubscriberImportConfiguration : IEntityTypeConfiguration<SubscriberImport>
{
    public void Configure(EntityTypeBuilder<SubscriberImport> b)
    {
        b.Property(i => i.FileName).HasMaxLength(260);
        b.Property(i => i.ConsentSource).HasMaxLength(500);
        b.Property(i => i.Tags).HasMaxLength(500);
        b.Property(i => i.Platform).HasMaxLength(40);
        b.Property(i => i.Mapping).HasMaxLength(1000);
    }
}
