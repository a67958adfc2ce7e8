using ImageMagick;

namespace Newsletter.Web.Images;

/// <summary>Why an upload was refused, in words for the author.</summary>
public sealed class ImageRejectedException(string message) : Exception(message);

/// <summary>An image ready to store: the bytes and what they are.</summary>
public sealed record ProcessedImage(byte[] Bytes, string Extension, int Width, int Height);

/// <summary>
/// Turns an upload into an image fit for email: only JPEG, PNG, GIF and WebP are read, and only after their
/// header says they are not a decompression bomb; the result is at most <see cref="ImageOptions.StoredWidth"/>
/// wide, turned upright, without metadata (camera, GPS, comments), in a format every mail client shows.
/// </summary>
public static class ImageProcessor
{
    static ImageProcessor()
    {
        // A backstop behind the header check: ImageMagick itself refuses to allocate more than this. Width and
        // height stay loose: libpng rejects a header past them as "invalid", and the author should hear the size.
        ResourceLimits.Width = 1_000_000;
        ResourceLimits.Height = 1_000_000;
        ResourceLimits.Area = 200_000_000;
        ResourceLimits.Memory = 512UL * 1024 * 1024;
        // Past Memory, ImageMagick pages pixels to a file in /tmp; unbounded, one small crafted upload wrote 12 GB.
        ResourceLimits.Disk = 1024UL * 1024 * 1024;
    }

    public static ProcessedImage Process(byte[] upload, ImageOptions options)
    {
        var format = Sniff(upload);
        var settings = new MagickReadSettings { Format = format };
        MagickImageInfo header;
        try
        {
            header = new MagickImageInfo(upload, settings);
        }
        catch (MagickException)
        {
            throw new ImageRejectedException("The file looks like an image but could not be read. It may be damaged; export it again as JPEG or PNG.");
        }

        // A GIF's frames are drawn on its canvas (the "logical screen" of its header), which the first frame's
        // size doesn't tell: a 29-byte file with one 1×1 frame on a 65,535 × 65,535 canvas passed the check below
        // and was expanded to the canvas when its frames were put together.
        var (width, height) = format == MagickFormat.Gif ? GifCanvas(upload, header) : ((long)header.Width, (long)header.Height);
        if (width * height > options.MaxPixels || width == 0 || height == 0)
        {
            throw new ImageRejectedException($"The image says it is {width:N0} × {height:N0} pixels; the limit is {options.MaxPixels / 1_000_000:N0} megapixels. Export a smaller copy.");
        }

        try
        {
            return format == MagickFormat.Gif ? Gif(upload, settings, options) : Still(upload, settings, format, options);
        }
        catch (MagickException)
        {
            throw new ImageRejectedException("The image could not be decoded. It may be damaged or too large; export it again as JPEG or PNG.");
        }
    }

    /// <summary>The larger of a GIF's canvas (bytes 6 to 9, little-endian) and its first frame.</summary>
    private static (long Width, long Height) GifCanvas(byte[] gif, MagickImageInfo? first) =>
        gif.Length < 10 ? ((long)(first?.Width ?? 0u), (long)(first?.Height ?? 0u))
            : (Math.Max(gif[6] | (gif[7] << 8), (long)(first?.Width ?? 0u)), Math.Max(gif[8] | (gif[9] << 8), (long)(first?.Height ?? 0u)));

    /// <summary>By the file's first bytes, never its name or the browser's word: SVG and everything else are refused.</summary>
    private static MagickFormat Sniff(ReadOnlySpan<byte> b)
    {
        if (b.Length >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF)
        {
            return MagickFormat.Jpeg;
        }

        if (b.Length >= 8 && b[..8].SequenceEqual(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }))
        {
            return MagickFormat.Png;
        }

        if (b.Length >= 6 && (b[..6].SequenceEqual("GIF87a"u8) || b[..6].SequenceEqual("GIF89a"u8)))
        {
            return MagickFormat.Gif;
        }

        if (b.Length >= 12 && b[..4].SequenceEqual("RIFF"u8) && b[8..12].SequenceEqual("WEBP"u8))
        {
            return MagickFormat.WebP;
        }

        var start = System.Text.Encoding.UTF8.GetString(b[..Math.Min(b.Length, 512)]).TrimStart('\uFEFF').TrimStart();
        if (start.StartsWith('<') && start.Contains("svg", StringComparison.OrdinalIgnoreCase))
        {
            throw new ImageRejectedException("SVG files are not accepted: they can carry script, and many mail clients don't show them. Export it as PNG.");
        }

        throw new ImageRejectedException("That file is not an image this site takes. Upload a JPEG, PNG, GIF or WebP.");
    }

    private static ProcessedImage Still(byte[] upload, MagickReadSettings settings, MagickFormat format, ImageOptions options)
    {
        using var image = new MagickImage(upload, settings);
        image.AutoOrient();
        image.Strip();
        if (image.Width > options.StoredWidth)
        {
            image.Resize(new MagickGeometry((uint)options.StoredWidth, 0));
        }

        // Outlook and older clients show no WebP: it becomes JPEG, or PNG when it has transparency. PNG stays
        // PNG (screenshots, diagrams: JPEG would smear the text); photographs stay JPEG.
        var png = format == MagickFormat.Png || (format == MagickFormat.WebP && image.HasAlpha);
        if (png)
        {
            image.Format = MagickFormat.Png;
            image.Settings.SetDefine(MagickFormat.Png, "exclude-chunks", "date,time");
        }
        else
        {
            image.Format = MagickFormat.Jpeg;
            image.Quality = 82;
            image.Settings.Interlace = Interlace.Plane;
        }

        return new ProcessedImage(image.ToByteArray(), png ? "png" : "jpg", (int)image.Width, (int)image.Height);
    }

    private static ProcessedImage Gif(byte[] upload, MagickReadSettings settings, ImageOptions options)
    {
        using var frames = new MagickImageCollection(upload, settings);
        // Putting the frames together makes each one the canvas' size, wherever a frame claims to sit on it.
        var (canvasWidth, canvasHeight) = GifCanvas(upload, null);
        foreach (var frame in frames)
        {
            canvasWidth = Math.Max(canvasWidth, Math.Max((long)frame.Page.Width, (long)frame.Page.X + frame.Width));
            canvasHeight = Math.Max(canvasHeight, Math.Max((long)frame.Page.Height, (long)frame.Page.Y + frame.Height));
        }

        if (canvasWidth * canvasHeight > options.MaxPixels || (long)frames.Count * canvasWidth * canvasHeight > options.MaxPixels)
        {
            throw new ImageRejectedException($"The animation has {frames.Count:N0} frames; together they are more than {options.MaxPixels / 1_000_000:N0} megapixels. Export a shorter or smaller one.");
        }

        frames.Coalesce();
        foreach (var frame in frames)
        {
            frame.Strip();
            if (frame.Width > options.StoredWidth)
            {
                frame.Resize(new MagickGeometry((uint)options.StoredWidth, 0));
            }
        }

        var (width, height) = ((int)frames[0].Width, (int)frames[0].Height);
        frames.Optimize();
        return new ProcessedImage(frames.ToByteArray(MagickFormat.Gif), "gif", width, height);
    }
}
