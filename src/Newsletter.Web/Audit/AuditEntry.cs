using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Newsletter.Web.Audit;

/// <summary>
/// One thing an author did that reaches readers or their data: a send, a schedule, an export, an erasure, a change
/// to who may do what. Written in the request that did it; never changed afterwards.
/// </summary>
public sealed class AuditEntry
{
    public long Id { get; set; }

    public DateTime At { get; set; }

    /// <summary>AspNetUsers.Id of the author (for a token, the author who made it); no key, so the row outlives the account.</summary>
    public string ActorId { get; set; } = "";

    /// <summary>The author's name at the time, and "via API token …" when a token did it.</summary>
    public string ActorName { get; set; } = "";

    /// <summary>What was done, from <see cref="AuditActions"/>.</summary>
    public string Action { get; set; } = "";

    /// <summary>What it was done to: "issue", "subscriber", "subscribers", "author".</summary>
    public string ObjectType { get; set; } = "";

    public string? ObjectId { get; set; }

    /// <summary>A sentence for the audit page: the subject, the file, the new role.</summary>
    public string Detail { get; set; } = "";
}

/// <summary>The actions the audit log records.</summary>
public static class AuditActions
{
    public const string IssueSend = "issue.send";
    public const string IssueSchedule = "issue.schedule";
    public const string IssueUnschedule = "issue.unschedule";
    public const string IssuePause = "issue.pause";
    public const string IssueResume = "issue.resume";
    public const string IssueCancel = "issue.cancel";
    public const string IssueRetry = "issue.retry";
    public const string IssueWithdraw = "issue.withdraw";
    public const string IssueRepublish = "issue.republish";
    public const string IssueTest = "issue.test";
    public const string IssueEdit = "issue.edit";
    public const string DigestChange = "digest.change";
    public const string ReadersExport = "readers.export";
    public const string LedgerExport = "ledger.export";
    public const string ReadersImport = "readers.import";
    public const string SuppressionLift = "suppression.lift";
    public const string PostsImport = "posts.import";
    public const string ReaderErase = "reader.erase";
    public const string ReaderDelete = "reader.delete";
    public const string AuthorInvite = "author.invite";
    public const string AuthorRole = "author.role";
    public const string AuthorSuspend = "author.suspend";
    public const string AuthorRestore = "author.restore";
    public const string AuthorRemove = "author.remove";
    public const string TokenCreate = "token.create";
    public const string TokenRevoke = "token.revoke";
}

internal sealed class AuditEntryConfiguration : IEntityTypeConfiguration<AuditEntry>
{
    public void Configure(EntityTypeBuilder<AuditEntry> b)
    {
        b.ToTable("AuditEntries");
        b.HasIndex(e => e.At);
        b.HasIndex(e => new { e.ObjectType, e.ObjectId });
        b.Property(e => e.ActorId).HasMaxLength(450);
        b.Property(e => e.ActorName).HasMaxLength(400);
        b.Property(e => e.Action).HasMaxLength(40);
        b.Property(e => e.ObjectType).HasMaxLength(40);
        b.Property(e => e.ObjectId).HasMaxLength(100);
        b.Property(e => e.Detail).HasMaxLength(1000);
    }
}
