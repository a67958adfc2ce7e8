using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Newsletter.Web.Issues;

namespace Newsletter.Web.Tracking;

/// <summary>
/// One web link of a sent issue and how often it was opened: all that link-click counting keeps. No reader,
/// address, IP, user agent or cookie is stored anywhere for a click.
/// </summary>
public sealed class IssueLink
{
    public int IssueId { get; set; }

    /// <summary>The link's number within its issue, in the order the links first appear: /r/{issue}/{number}.</summary>
    public int Number { get; set; }

    public string Url { get; set; } = "";

    public long Clicks { get; set; }

    public DateTime? FirstClickAt { get; set; }

    public DateTime? LastClickAt { get; set; }
}

internal sealed class IssueLinkConfiguration : IEntityTypeConfiguration<IssueLink>
{
    public void Configure(EntityTypeBuilder<IssueLink> b)
    {
        b.HasKey(l => new { l.IssueId, l.Number });
        // One number per address within an issue, so a resumed or second worker's preparation finds the
        // numbers already given instead of adding new ones.
        b.HasIndex(l => new { l.IssueId, l.Url }).IsUnique();
        b.Property(l => l.Url).HasMaxLength(LinkClicks.MaxUrlLength);
        b.HasOne<Issue>().WithMany().HasForeignKey(l => l.IssueId).OnDelete(DeleteBehavior.Cascade);
    }
}
