using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Web.Data;
using Newsletter.Web.Data.Providers;
using Newsletter.Web.Infrastructure;

namespace Newsletter.Web.Images;

/// <summary>Processes, stores and finds uploaded images. Where the bytes live is <see cref="ImageBlobs"/>' business.</summary>
public sealed partial class ImageStore(AppDbContext db, ImageBlobs blobs, IOptions<ImageOptions> options, TimeProvider clock)
{
    public const string PublicPrefix = "/media/";

    public async Task<StoredImage> SaveAsync(byte[] upload, string authorId, CancellationToken ct)
    {
        // Decoding is CPU work of up to a second for a large photograph; off the request's thread pool slot.
        var processed = await Task.Run(() => ImageProcessor.Process(upload, options.Value), ct);
        var hash = Convert.ToHexStringLower(SHA256.HashData(processed.Bytes));
        if (await db.Set<StoredImage>().AsNoTracking().FirstOrDefaultAsync(i => i.Hash == hash, ct) is { } existing)
        {
            return existing;
        }

        var image = new StoredImage
        {
            Hash = hash,
            Extension = processed.Extension,
            Width = processed.Width,
            Height = processed.Height,
            Length = processed.Bytes.Length,
            CreatedAt = clock.GetUtcNow().UtcDateTime,
            CreatedById = authorId,
        };
        // The bytes first: a row never points at a file that isn't there.
        await blobs.WriteAsync(image, processed.Bytes, ct);
        db.Set<StoredImage>().Add(image);
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException e) when (db.IsUniqueViolation(e))
        {
            // The same picture uploaded twice at once: the other upload's row is the same image.
            db.ChangeTracker.Clear();
        }

        return image;
    }

    /// <summary>The image behind a public file name ("{hash}.{ext}"), or null.</summary>
    public async Task<(StoredImage Image, Stream Content)?> OpenAsync(string fileName, CancellationToken ct)
    {
        var match = FileNamePattern().Match(fileName);
        if (!match.Success)
        {
            return null;
        }

        var hash = match.Groups[1].Value;
        var ext = match.Groups[2].Value;
        var image = await db.Set<StoredImage>().AsNoTracking().FirstOrDefaultAsync(i => i.Hash == hash && i.Extension == ext, ct);
        if (image is null)
        {
            return null;
        }

        var content = await blobs.OpenAsync(image, ct);
        return content is null ? null : (image, content);
    }

    /// <summary>The stored facts of every uploaded image an HTML fragment shows, by path (/media/...).</summary>
    public async Task<IReadOnlyDictionary<string, StoredImage>> FactsAsync(string html, CancellationToken ct)
    {
        var hashes = PathPattern().Matches(html).Select(m => m.Groups[1].Value).Distinct().ToList();
        if (hashes.Count == 0)
        {
            return new Dictionary<string, StoredImage>();
        }

        var rows = await db.Set<StoredImage>().AsNoTracking().Where(i => hashes.Contains(i.Hash))
            .Select(i => new StoredImage { Hash = i.Hash, Extension = i.Extension, Width = i.Width, Height = i.Height, Length = i.Length })
            .ToListAsync(ct);
        return rows.ToDictionary(i => i.Path, StringComparer.Ordinal);
    }

    [GeneratedRegex("^([0-9a-f]{64})\\.(jpg|png|gif)$")]
    private static partial Regex FileNamePattern();

    [GeneratedRegex("/media/([0-9a-f]{64})\\.(?:jpg|png|gif)")]
    private static partial Regex PathPattern();
}

/// <summary>Where image bytes live; chosen once at start from Database:Provider.</summary>
public abstract class ImageBlobs
{
    public abstract Task WriteAsync(StoredImage image, byte[] bytes, CancellationToken ct);

    public abstract Task<Stream?> OpenAsync(StoredImage image, CancellationToken ct);
}

/// <summary>One host (SQLite): files in data/media, named by hash, written once.</summary>
public sealed class FileImageBlobs(AppPaths paths) : ImageBlobs
{
    private string Folder => Path.Combine(paths.DataFolder, "media");

    public override async Task WriteAsync(StoredImage image, byte[] bytes, CancellationToken ct)
    {
        Directory.CreateDirectory(Folder);
        var target = Path.Combine(Folder, image.FileName);
        if (File.Exists(target))
        {
            return;
        }

        // Written beside, then renamed: a reader never gets half a file, and a crash leaves only a .tmp.
        var temp = target + "." + Guid.NewGuid().ToString("N") + ".tmp";
        await File.WriteAllBytesAsync(temp, bytes, ct);
        File.Move(temp, target, overwrite: true);
    }

    public override Task<Stream?> OpenAsync(StoredImage image, CancellationToken ct)
    {
        var path = Path.Combine(Folder, image.FileName);
        return Task.FromResult<Stream?>(File.Exists(path) ? File.OpenRead(path) : null);
    }
}

/// <summary>Several nodes (PostgreSQL): the bytes in the Images row, so any node serves any image and a backup of the database holds them.</summary>
public sealed class DatabaseImageBlobs(AppDbContext db) : ImageBlobs
{
    public override Task WriteAsync(StoredImage image, byte[] bytes, CancellationToken ct)
    {
        image.Bytes = bytes;
        return Task.CompletedTask;
    }

    public override async Task<Stream?> OpenAsync(StoredImage image, CancellationToken ct)
    {
        var bytes = await db.Set<StoredImage>().AsNoTracking().Where(i => i.Hash == image.Hash).Select(i => i.Bytes).FirstOrDefaultAsync(ct);
        return bytes is null ? null : new MemoryStream(bytes, writable: false);
    }
}
