using System.ComponentModel.DataAnnotations;

namespace Newsletter.Web.Images;

/// <summary>The Images section of appsettings.json.</summary>
public sealed class ImageOptions
{
    /// <summary>An upload larger than this is refused before it is read.</summary>
    [Range(1, 100)]
    public int MaxUploadMegabytes { get; set; } = 15;

    /// <summary>
    /// Width times height that an upload may declare. A 50 KB PNG can declare 100,000 × 100,000 pixels, 10 GB once
    /// decoded: the header is read first and such a file is refused before any pixel is.
    /// </summary>
    [Range(1_000_000, 200_000_000)]
    public long MaxPixels { get; set; } = 50_000_000;

    /// <summary>Stored width: twice the width an email shows, so the picture is sharp on high-density screens.</summary>
    [Range(200, 4000)]
    public int StoredWidth { get; set; } = 1200;

    /// <summary>The width an email shows an image at (the email templates' column).</summary>
    [Range(100, 2000)]
    public int EmailWidth { get; set; } = 600;

    /// <summary>Preflight warns about an image in an issue whose stored file is larger than this.</summary>
    [Range(10_000, 50_000_000)]
    public long WarnBytes { get; set; } = 400_000;

    public long MaxUploadBytes => MaxUploadMegabytes * 1024L * 1024L;
}
