using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Newsletter.Web.Images;

/// <summary>
/// An uploaded image after resizing, named by the SHA-256 of its stored bytes: the same picture uploaded twice is
/// one row, and its address never changes meaning, so it can be cached for a year.
/// </summary>
public sealed class StoredImage
{
    /// <summary>SHA-256 of <see cref="Bytes"/> (or of the file), lower-case hex.</summary>
    public string Hash { get; set; } = "";

    /// <summary>"jpg", "png" or "gif": the file name's extension and the format of the bytes.</summary>
    public string Extension { get; set; } = "";

    public int Width { get; set; }

    public int Height { get; set; }

    public long Length { get; set; }

    public DateTime CreatedAt { get; set; }

    public string CreatedById { get; set; } = "";

    /// <summary>The image itself on PostgreSQL, where every node must serve it; null on SQLite, where it is a file in data/media.</summary>
    public byte[]? Bytes { get; set; }

    public string FileName => $"{Hash}.{Extension}";

    public string Path => ImageStore.PublicPrefix + FileName;

    public string ContentType => ContentTypeOf(Extension);

    public static string ContentTypeOf(string extension) => extension switch
    {
        "jpg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        _ => "application/octet-stream",
    };
}

internal sealed class StoredImageConfiguration : IEntityTypeConfiguration<StoredImage>
{
    public void Configure(EntityTypeBuilder<StoredImage> b)
    {
        b.ToTable("Images");
        b.HasKey(i => i.Hash);
        b.Property(i => i.Hash).HasMaxLength(64);
        b.Property(i => i.Extension).HasMaxLength(8);
        b.Property(i => i.CreatedById).HasMaxLength(450);
        b.Ignore(i => i.FileName);
        b.Ignore(i => i.Path);
        b.Ignore(i => i.ContentType);
    }
}
