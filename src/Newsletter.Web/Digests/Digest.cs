using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Newsletter.Web.Digests;

public enum DigestCadence
{
    /// <summary>Once a week, on <see cref="Digest.Weekday"/>.</summary>
    Weekly = 0,

    /// <summary>Once a month, on <see cref="Digest.DayOfMonth"/>.</summary>
    Monthly = 1,

    /// <summary>As soon as <see cref="Digest.NoteCount"/> new notes are published.</summary>
    EveryNNotes = 2,
}

public enum DigestMode
{
    /// <summary>Drafts the issue and emails the authors who can send it that it waits for them.</summary>
    Approval = 0,

    /// <summary>Drafts the issue and sends it at once.</summary>
    SendItself = 1,
}

/// <summary>
/// A recurring issue written from the notes published since the last one: for every note or one topic, on a
/// calendar (at <see cref="Hour"/> in Site:TimeZone) or every few notes.
/// </summary>
public sealed class Digest
{
    public int Id { get; set; }

    public string Name { get; set; } = "";

    /// <summary>A note tag; null takes every note.</summary>
    public string? Topic { get; set; }

    /// <summary>Markdown above the notes.</summary>
    public string Intro { get; set; } = "";

    public DigestCadence Cadence { get; set; }

    public DayOfWeek Weekday { get; set; } = DayOfWeek.Monday;

    /// <summary>1 to 28, so every month has the day.</summary>
    public int DayOfMonth { get; set; } = 1;

    /// <summary>The author's hour (0 to 23) in Site:TimeZone.</summary>
    public int Hour { get; set; } = 9;

    public int NoteCount { get; set; } = 5;

    /// <summary>Each note's whole text rather than its summary and a link.</summary>
    public bool FullText { get; set; }

    public DigestMode Mode { get; set; }

    public bool Paused { get; set; }

    /// <summary>The one calendar occurrence (UTC) the author chose to skip; the notes wait for the next.</summary>
    public DateTime? SkipOccurrence { get; set; }

    public DateTime CreatedAt { get; set; } = DateTime.UtcNow;

    public DateTime UpdatedAt { get; set; } = DateTime.UtcNow;

    /// <summary>Stable, so an edit replaces the schedule and a delete removes it (Hangfire's recurring job id).</summary>
    public string RecurringJobId => RecurringJobIdOf(Id);

    public static string RecurringJobIdOf(int id) => $"digest:{id}";
}

public enum DigestRunStatus
{
    /// <summary>The issue is drafted; the approval email or the send is still to come.</summary>
    Drafted = 0,

    /// <summary>Approval mode: the authors have been told.</summary>
    Notified = 1,

    /// <summary>Send mode: the issue is handed to the sender.</summary>
    Scheduled = 2,

    /// <summary>The author skipped this occurrence: nothing was drafted.</summary>
    Skipped = 3,
}

/// <summary>
/// One digest for one period, unique on (digest, period): the row is inserted in the same transaction as the
/// draft, so two nodes or a restarted job can only ever draft a period once; the loser finds the row and
/// finishes what it says is left (the approval email or the send).
/// </summary>
public sealed class DigestRun
{
    public long Id { get; set; }

    public int DigestId { get; set; }

    /// <summary>The occurrence's local date (yyyy-MM-dd), or the notes it took for an every-N-notes digest.</summary>
    public string Period { get; set; } = "";

    public DigestRunStatus Status { get; set; }

    /// <summary>Null when nothing was drafted (a skip), or when the author deleted the draft.</summary>
    public int? IssueId { get; set; }

    public DateTime CreatedAt { get; set; }

    /// <summary>Claimed before the approval email goes, so two runs never both send it.</summary>
    public DateTime? NotifiedAt { get; set; }

    public List<DigestRunNote> Notes { get; set; } = [];
}

/// <summary>A note a digest has taken; unique per (digest, note), so no note is in one digest twice.</summary>
public sealed class DigestRunNote
{
    public long RunId { get; set; }

    public int DigestId { get; set; }

    public int NoteId { get; set; }
}

internal sealed class DigestConfiguration : IEntityTypeConfiguration<Digest>
{
    public void Configure(EntityTypeBuilder<Digest> b)
    {
        b.Property(d => d.Name).HasMaxLength(200);
        b.Property(d => d.Topic).HasMaxLength(40);
        b.Property(d => d.Intro).HasMaxLength(10_000);
        b.Property(d => d.Cadence).HasConversion<string>().HasMaxLength(16);
        b.Property(d => d.Mode).HasConversion<string>().HasMaxLength(16);
        b.Property(d => d.Weekday).HasConversion<string>().HasMaxLength(10);
        b.HasMany<DigestRun>().WithOne().HasForeignKey(r => r.DigestId).OnDelete(DeleteBehavior.Cascade);
    }
}

internal sealed class DigestRunConfiguration : IEntityTypeConfiguration<DigestRun>
{
    public void Configure(EntityTypeBuilder<DigestRun> b)
    {
        b.HasIndex(r => new { r.DigestId, r.Period }).IsUnique();
        b.Property(r => r.Period).HasMaxLength(200);
        b.Property(r => r.Status).HasConversion<string>().HasMaxLength(16);
        b.HasOne<Issues.Issue>().WithMany().HasForeignKey(r => r.IssueId).OnDelete(DeleteBehavior.SetNull);
        b.HasMany(r => r.Notes).WithOne().HasForeignKey(n => n.RunId).OnDelete(DeleteBehavior.Cascade);
    }
}

internal sealed class DigestRunNoteConfiguration : IEntityTypeConfiguration<DigestRunNote>
{
    public void Configure(EntityTypeBuilder<DigestRunNote> b)
    {
        b.HasKey(n => new { n.RunId, n.NoteId });
        b.HasIndex(n => new { n.DigestId, n.NoteId }).IsUnique();
        b.HasOne<Notes.Note>().WithMany().HasForeignKey(n => n.NoteId).OnDelete(DeleteBehavior.Cascade);
    }
}
