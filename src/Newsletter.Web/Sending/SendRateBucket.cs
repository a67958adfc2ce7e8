using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Newsletter.Web.Sending;

/// <summary>The global token bucket's state (one row per window), shared by every worker and node.</summary>
public sealed class SendRateBucket
{
    public string Key { get; set; } = "";

    public double Tokens { get; set; }

    public long UpdatedAtMs { get; set; }
}

internal sealed class SendRateBucketConfiguration : IEntityTypeConfiguration<SendRateBucket>
{
    public void Configure(EntityTypeBuilder<SendRateBucket> b)
    {
        b.HasKey(x => x.Key);
        b.Property(x => x.Key).HasMaxLength(20);
    }
}
