using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Newsletter.Web.Notes;

public enum NoteKind
{
    Note = 0,
    Bio = 1,
}

public enum NoteStatus
{
    Draft = 0,
    Published = 1,
}

/// <summary>
/// A working note. A note imported from notes/ is owned by its file (SourcePath is set) and is read-only
/// in the admin; a note written in the admin has no SourcePath until it is exported.
/// </summary>
public sealed class Note
{
    public int Id { get; set; }

    public string Slug { get; set; } = "";

    public string Title { get; set; } = "";

    public NoteKind Kind { get; set; }

    public NoteStatus Status { get; set; }

    public string Summary { get; set; } = "";

    public string Markdown { get; set; } = "";

    /// <summary>Sanitised HTML, rendered once per change so pages never run Markdig per request.</summary>
    public string Html { get; set; } = "";

    /// <summary>Plain text of the body, for search, reading time and email text parts.</summary>
    public string PlainText { get; set; } = "";

    /// <summary>Structured front matter of a bio note (JSON), rendered by the about page.</summary>
    public string? ProfileJson { get; set; }

    /// <summary>Path relative to notes/ of the file that owns this note; null when written in the admin.</summary>
    public string? SourcePath { get; set; }

    /// <summary>SHA-256 of the source file, so an unchanged file is skipped on import.</summary>
    public string? ContentHash { get; set; }

    public DateTime Date { get; set; }

    public DateTime CreatedAt { get; set; } = DateTime.UtcNow;

    public DateTime UpdatedAt { get; set; } = DateTime.UtcNow;

    /// <summary>Set when the note was deleted, so its URL answers 410 Gone instead of 404.</summary>
    public DateTime? DeletedAt { get; set; }

    public List<NoteTag> Tags { get; set; } = [];

    public bool IsFileBacked => SourcePath is not null;

    public bool IsPublic => Status == NoteStatus.Published && DeletedAt is null;

    public int ReadingMinutes => Math.Max(1, (int)Math.Round(PlainText.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Length / 230.0));

    public IEnumerable<string> TagNames => Tags.Select(t => t.Tag).Order(StringComparer.Ordinal);

    public void SetTags(IEnumerable<string> tags)
    {
        var wanted = tags.Select(Notes.Tags.Normalize).Where(t => t.Length > 0).Distinct(StringComparer.Ordinal).ToHashSet(StringComparer.Ordinal);
        Tags.RemoveAll(t => !wanted.Contains(t.Tag));
        foreach (var tag in wanted.Where(w => Tags.All(t => t.Tag != w)))
        {
            Tags.Add(new NoteTag { Tag = tag });
        }
    }
}

public sealed class NoteTag
{
    public int NoteId { get; set; }

    public string Tag { get; set; } = "";
}

public static class Tags
{
    /// <summary>
    /// Tags are lower-case words joined by hyphens, so they are safe in URLs and compare exactly. A leading '#' is the
    /// hashtag habit and goes; a '#' or '+' that follows a letter is part of a name and is spelled out ("c#" is
    /// c-sharp, "c++" c-plus-plus), or a note on C# and one on C would share the tag "c". After a digit it stays
    /// a separator ("1+1" is 1-1): a sum or a version is not a name.
    /// </summary>
    public static string Normalize(string tag)
    {
        var joined = Unclipped(tag);
        return joined.Length > MaxLength ? joined[..MaxLength].TrimEnd('-') : joined;
    }

    /// <summary>The longest tag kept (the column's width); a longer one is cut where it is not refused.</summary>
    public const int MaxLength = 40;

    /// <summary>
    /// A tag too long to keep as it was written: the API refuses it by name, since two long tags cut to the same
    /// first 40 characters would silently become one.
    /// </summary>
    public static string? TooLong(string tag) =>
        Unclipped(tag) is { Length: > MaxLength } text ? $"A tag is at most {MaxLength} characters as a tag; '{text[..20]}…' is {text.Length}." : null;

    private static string Unclipped(string tag)
    {
        var text = tag.Trim().TrimStart('#').ToLowerInvariant();
        var spelled = new System.Text.StringBuilder(text.Length + 8);
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsLetterOrDigit(c))
            {
                spelled.Append(c);
            }
            else if (c is '#' or '+' && i > 0 && (char.IsLetter(text[i - 1]) || text[i - 1] == c))
            {
                spelled.Append(c == '#' ? "-sharp-" : "-plus-");
            }
            else
            {
                spelled.Append('-');
            }
        }

        return string.Join('-', spelled.ToString().Split('-', StringSplitOptions.RemoveEmptyEntries));
    }

    public static IEnumerable<string> Parse(string? commaSeparated) =>
        (commaSeparated ?? "").Split([',', ';'], StringSplitOptions.RemoveEmptyEntries).Select(Normalize).Where(t => t.Length > 0).Distinct();
}

internal sealed class NoteConfiguration : IEntityTypeConfiguration<Note>
{
    public void Configure(EntityTypeBuilder<Note> b)
    {
        b.HasIndex(n => n.Slug).IsUnique();
        b.HasIndex(n => new { n.Status, n.Date });
        b.Property(n => n.Slug).HasMaxLength(120);
        b.Property(n => n.Title).HasMaxLength(300);
        b.Property(n => n.Summary).HasMaxLength(1000);
        b.HasMany(n => n.Tags).WithOne().HasForeignKey(t => t.NoteId).OnDelete(DeleteBehavior.Cascade);
    }
}

internal sealed class NoteTagConfiguration : IEntityTypeConfiguration<NoteTag>
{
    public void Configure(EntityTypeBuilder<NoteTag> b)
    {
        b.HasKey(t => new { t.NoteId, t.Tag });
        b.HasIndex(t => t.Tag);
        b.Property(t => t.Tag).HasMaxLength(40);
    }
}
