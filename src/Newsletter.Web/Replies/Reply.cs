using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Newsletter.Web.Replies;

/// <summary>
/// One correspondent's conversation about one thing: an issue, a note, or nothing we could tell. The
/// correspondent is the address the mail came from, never a reader named in a header, so a forged
/// In-Reply-To can move a message between topics but never into someone else's conversation.
/// </summary>
public sealed class ReplyThread
{
    public long Id { get; set; }

    /// <summary>The lower-cased address the replies came from: who the author's answers go to.</summary>
    public string AddressKey { get; set; } = "";

    /// <summary>The address as it was written, for the answer's To.</summary>
    public string Address { get; set; } = "";

    /// <summary>The name from the From header, if any.</summary>
    public string? Name { get; set; }

    /// <summary>The reader with that address when the first reply arrived; null for an unknown address.</summary>
    public long? SubscriberId { get; set; }

    public int? IssueId { get; set; }

    public int? NoteId { get; set; }

    /// <summary>"issue:12", "note:4" or "": with <see cref="AddressKey"/> the thread's identity, unique, so two nodes make one thread.</summary>
    public string Topic { get; set; } = "";

    public string Subject { get; set; } = "";

    public DateTime LastAt { get; set; }

    public List<ReplyMessage> Messages { get; set; } = [];

    public static string TopicOf(int? issueId, int? noteId) =>
        issueId is { } i ? $"issue:{i}" : noteId is { } n ? $"note:{n}" : "";
}

public enum ReplyDirection
{
    /// <summary>From a reader (or anyone) to the author.</summary>
    In = 0,

    /// <summary>The author's answer.</summary>
    Out = 1,
}

public enum AnswerStatus
{
    /// <summary>Written in the admin; a job sends it.</summary>
    Queued = 0,
    Sent = 1,

    /// <summary>The server refused it for good; LastError says why.</summary>
    Failed = 2,
}

/// <summary>A message in a thread: a reply that came in or an answer that went out.</summary>
public sealed class ReplyMessage
{
    public long Id { get; set; }

    public long ThreadId { get; set; }

    public ReplyDirection Direction { get; set; }

    /// <summary>
    /// The Message-ID without brackets, or "sha256:..." of the whole message when it has none. Unique: the same
    /// mail piped twice, fetched by two nodes or again after a restart is stored once.
    /// </summary>
    public string MessageKey { get; set; } = "";

    /// <summary>Where it came from: pipe, http, imap, or admin for an answer.</summary>
    public string Source { get; set; } = "";

    public string FromAddress { get; set; } = "";

    public string? FromName { get; set; }

    public string Subject { get; set; } = "";

    /// <summary>The body as text (an HTML-only reply is converted), cut at <see cref="ReplyInbox.MaxTextChars"/>.</summary>
    public string Text { get; set; } = "";

    /// <summary>Set when the body was cut or not read: says what was left out.</summary>
    public string? Note { get; set; }

    /// <summary>The In-Reply-To and References ids (space-separated, capped), to thread the author's answer.</summary>
    public string References { get; set; } = "";

    public DateTime At { get; set; }

    /// <summary>When an author read it; null is unread. Answers are born read.</summary>
    public DateTime? ReadAt { get; set; }

    /// <summary>An answer: who wrote it.</summary>
    public string? AuthorName { get; set; }

    public AnswerStatus? AnswerStatus { get; set; }

    public string? LastError { get; set; }

    /// <summary>The reader agreed to see this on the site: recorded by which author, when and how.</summary>
    public string? ConsentBy { get; set; }

    public DateTime? ConsentAt { get; set; }

    public string? ConsentHow { get; set; }

    /// <summary>What the site shows: the text the author chose (quotes and signature left out) and a display name.</summary>
    public string? CommentText { get; set; }

    public string? CommentName { get; set; }

    public DateTime? PublishedAt { get; set; }

    /// <summary>When the comment was last published or taken down: public pages are as new as this.</summary>
    public DateTime? CommentChangedAt { get; set; }

    public bool IsPublished => PublishedAt is not null && ConsentAt is not null;
}

/// <summary>How far an IMAP folder has been read: the folder's UIDVALIDITY and the last UID stored.</summary>
public sealed class InboundCursor
{
    /// <summary>imap://user@host:port/folder</summary>
    public string Account { get; set; } = "";

    public long UidValidity { get; set; }

    public long LastUid { get; set; }

    public DateTime UpdatedAt { get; set; }
}

internal sealed class ReplyThreadConfiguration : IEntityTypeConfiguration<ReplyThread>
{
    public void Configure(EntityTypeBuilder<ReplyThread> b)
    {
        b.HasIndex(t => new { t.AddressKey, t.Topic }).IsUnique();
        b.HasIndex(t => t.LastAt);
        b.HasIndex(t => t.SubscriberId);
        b.Property(t => t.AddressKey).HasMaxLength(254);
        b.Property(t => t.Address).HasMaxLength(254);
        b.Property(t => t.Name).HasMaxLength(200);
        b.Property(t => t.Topic).HasMaxLength(40);
        b.Property(t => t.Subject).HasMaxLength(300);
        b.HasMany(t => t.Messages).WithOne().HasForeignKey(m => m.ThreadId).OnDelete(DeleteBehavior.Cascade);
    }
}

internal sealed class ReplyMessageConfiguration : IEntityTypeConfiguration<ReplyMessage>
{
    public void Configure(EntityTypeBuilder<ReplyMessage> b)
    {
        b.ToTable("ReplyMessages");
        b.HasIndex(m => m.MessageKey).IsUnique();
        b.HasIndex(m => new { m.ThreadId, m.At });
        b.HasIndex(m => new { m.Direction, m.ReadAt });
        b.Property(m => m.MessageKey).HasMaxLength(300);
        b.Property(m => m.Source).HasMaxLength(20);
        b.Property(m => m.FromAddress).HasMaxLength(254);
        b.Property(m => m.FromName).HasMaxLength(200);
        b.Property(m => m.Subject).HasMaxLength(300);
        b.Property(m => m.Note).HasMaxLength(500);
        b.Property(m => m.References).HasMaxLength(4000);
        b.Property(m => m.AuthorName).HasMaxLength(200);
        b.Property(m => m.LastError).HasMaxLength(1000);
        b.Property(m => m.ConsentBy).HasMaxLength(200);
        b.Property(m => m.ConsentHow).HasMaxLength(500);
        b.Property(m => m.CommentName).HasMaxLength(80);
        b.Ignore(m => m.IsPublished);
    }
}

internal sealed class InboundCursorConfiguration : IEntityTypeConfiguration<InboundCursor>
{
    public void Configure(EntityTypeBuilder<InboundCursor> b)
    {
        b.HasKey(c => c.Account);
        b.Property(c => c.Account).HasMaxLength(500);
    }
}
