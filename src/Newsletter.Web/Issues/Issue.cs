using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Newsletter.Web.Issues;

/// <summary>Draft → Scheduled → Preparing → Sending → Sent, with Paused and Cancelled (DESIGN.md, Sending).</summary>
public enum IssueStatus
{
    Draft = 0,
    Scheduled = 1,
    Preparing = 2,
    Sending = 3,
    Sent = 4,
    Paused = 5,
    Cancelled = 6,
}

/// <summary>An issue of the newsletter: composed in Markdown, sent by email, and kept on the web.</summary>
public sealed class Issue
{
    public int Id { get; set; }

    /// <summary>Assigned when the issue first goes out (or is published web-only), so numbers have no gaps.</summary>
    public int? Number { get; set; }

    public string Slug { get; set; } = "";

    public string Subject { get; set; } = "";

    /// <summary>The preview line mail clients show after the subject.</summary>
    public string Preheader { get; set; } = "";

    public string Summary { get; set; } = "";

    public string Markdown { get; set; } = "";

    /// <summary>Sanitised HTML of the whole body (Markdown plus the included notes).</summary>
    public string Html { get; set; } = "";

    public string PlainText { get; set; } = "";

    public IssueStatus Status { get; set; }

    /// <summary>Who it goes to: all active subscribers, or those the segment's conditions pick (Segments/AudienceSql.cs).</summary>
    public Segments.Segment Segment { get; set; } = Segments.Segment.Everyone;

    /// <summary>Published on the site and never emailed.</summary>
    public bool WebOnly { get; set; }

    /// <summary>Emailed and never listed on the site.</summary>
    public bool EmailOnly { get; set; }

    public DateTime? ScheduledAt { get; set; }

    public DateTime? StartedAt { get; set; }

    /// <summary>When the web version appeared (send start, or publish time for web-only issues).</summary>
    public DateTime? PublishedAt { get; set; }

    public DateTime? CompletedAt { get; set; }

    /// <summary>Why a send paused itself (stall, failure rate) or was paused by the author.</summary>
    public string? PausedReason { get; set; }

    /// <summary>When the author last resumed the send: a relay outage counts towards an automatic pause only from then.</summary>
    public DateTime? ResumedAt { get; set; }

    public int RecipientCount { get; set; }

    public DateTime CreatedAt { get; set; } = DateTime.UtcNow;

    public DateTime UpdatedAt { get; set; } = DateTime.UtcNow;

    /// <summary>
    /// When the web version last changed, as its page tells search engines: never before <see cref="PublishedAt"/>.
    /// The send sets PublishedAt and leaves UpdatedAt at the last edit, which is earlier.
    /// </summary>
    public DateTime ModifiedAt => PublishedAt is { } published && published > UpdatedAt ? published : UpdatedAt;

    public DateTime? DeletedAt { get; set; }

    public List<IssueNote> Notes { get; set; } = [];

    public List<IssueTag> Tags { get; set; } = [];

    /// <summary>
    /// On the public site: published, not email-only, not deleted. A cancelled issue that reached anyone keeps its
    /// page, because its emails link to it; taking it off (IssueSender.SetWebPageAsync) clears PublishedAt.
    /// </summary>
    public bool IsPublic => PublishedAt is not null && !EmailOnly && DeletedAt is null
        && Status is IssueStatus.Sending or IssueStatus.Sent or IssueStatus.Paused or IssueStatus.Cancelled;

    /// <summary>Cancelled after some readers got it, and then taken off the site by the author: its address answers 410.</summary>
    public bool IsWithdrawn => Status == IssueStatus.Cancelled && PublishedAt is null && Number is not null && !EmailOnly && DeletedAt is null;

    public bool IsEditable => Status is IssueStatus.Draft or IssueStatus.Scheduled;

    public string WebPath => $"/issues/{Slug}";
}

public sealed class IssueNote
{
    public int IssueId { get; set; }

    public int NoteId { get; set; }

    public int Position { get; set; }
}

public sealed class IssueTag
{
    public int IssueId { get; set; }

    public string Tag { get; set; } = "";
}

internal sealed class IssueConfiguration : IEntityTypeConfiguration<Issue>
{
    public void Configure(EntityTypeBuilder<Issue> b)
    {
        b.HasIndex(i => i.Slug).IsUnique();
        b.HasIndex(i => i.Number).IsUnique();
        b.HasIndex(i => new { i.Status, i.ScheduledAt });
        b.HasIndex(i => i.PublishedAt);
        b.Property(i => i.Slug).HasMaxLength(120);
        b.Property(i => i.Subject).HasMaxLength(300);
        b.Property(i => i.Preheader).HasMaxLength(300);
        b.Property(i => i.Summary).HasMaxLength(1000);
        b.Property(i => i.Segment).HasConversion(new Segments.SegmentConverter(), new Segments.SegmentComparer()).HasMaxLength(4000);
        // The one-tag audience of earlier versions, copied into Segment by the IssueSegmentsFromAudienceTags migration.
        // Kept (unused) for one release, so a node still running the old version during an upgrade can read its issues.
        b.Property<string?>("AudienceTag").HasMaxLength(40);
        b.HasMany(i => i.Notes).WithOne().HasForeignKey(n => n.IssueId).OnDelete(DeleteBehavior.Cascade);
        b.HasMany(i => i.Tags).WithOne().HasForeignKey(t => t.IssueId).OnDelete(DeleteBehavior.Cascade);
    }
}

internal sealed class IssueNoteConfiguration : IEntityTypeConfiguration<IssueNote>
{
    public void Configure(EntityTypeBuilder<IssueNote> b)
    {
        b.HasKey(n => new { n.IssueId, n.NoteId });
        b.HasOne<Notes.Note>().WithMany().HasForeignKey(n => n.NoteId).OnDelete(DeleteBehavior.Restrict);
    }
}

internal sealed class IssueTagConfiguration : IEntityTypeConfiguration<IssueTag>
{
    public void Configure(EntityTypeBuilder<IssueTag> b)
    {
        b.HasKey(t => new { t.IssueId, t.Tag });
        b.HasIndex(t => t.Tag);
        b.Property(t => t.Tag).HasMaxLength(40);
    }
}
