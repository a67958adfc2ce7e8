using System.Security.Cryptography;
using System.Text;
using ImageMagick;
using ImageMagick.Drawing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Web.Data;
using Newsletter.Web.Infrastructure;
using Newsletter.Web.Site;

namespace Newsletter.Web.SocialCards;

/// <summary>What a card shows; its hash is part of the card's address, so a new title is a new URL.</summary>
public sealed record CardText(string Title, string Author, string SiteName)
{
    public string Hash => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"card-v1\n{Title}\n{Author}\n{SiteName}")))[..20];
}

/// <summary>
/// PNG link-preview cards (1200×630) for notes and issues. Facebook, X and LinkedIn show no SVG, so og:image
/// needs a raster. A card is drawn once per (title, author, site name) and kept as a file in data/cards; its
/// address carries the text's hash, which lets it be cached for a year and changes when the title does.
/// </summary>
public sealed class SocialCardStore(AppPaths paths, IOptions<SiteOptions> site, ILogger<SocialCardStore> logger)
{
    public const string Prefix = "/social/";
    public const int Width = 1200;
    public const int Height = 630;

    private static readonly SemaphoreSlim Drawing = new(1, 1);

    private string Folder => Path.Combine(paths.DataFolder, "cards");

    /// <summary>The card's site path: /social/{notes|issues}/{slug}.{hash}.png, or /social/site.{hash}.png.</summary>
    public static string PathFor(string? kind, string? slug, CardText text) =>
        kind is null || slug is null ? $"{Prefix}site.{text.Hash}.png" : $"{Prefix}{kind}/{slug}.{text.Hash}.png";

    public static string IconPath(string siteName) => $"{Prefix}icon.{new CardText(siteName, "", "icon").Hash}.png";

    public string Absolute(string path) => site.Value.Absolute(path);

    /// <summary>The stored card for this text, drawn now if it was never drawn (or the file was lost).</summary>
    public async Task<string> EnsureAsync(CardText text, CancellationToken ct) =>
        await EnsureFileAsync($"card-{text.Hash}.png", () => Render(text), ct);

    public async Task<string> EnsureIconAsync(string siteName, CancellationToken ct)
    {
        var key = new CardText(siteName, "", "icon").Hash;
        return await EnsureFileAsync($"icon-{key}.png", () => RenderIcon(siteName), ct);
    }

    private async Task<string> EnsureFileAsync(string name, Func<byte[]> draw, CancellationToken ct)
    {
        var target = Path.Combine(Folder, name);
        if (File.Exists(target))
        {
            return target;
        }

        // One drawing at a time: a shared link brings several crawlers at once, and each drawing is ~100 ms of CPU.
        await Drawing.WaitAsync(ct);
        try
        {
            if (!File.Exists(target))
            {
                var bytes = await Task.Run(draw, ct);
                Directory.CreateDirectory(Folder);
                var temp = target + "." + Guid.NewGuid().ToString("N") + ".tmp";
                await File.WriteAllBytesAsync(temp, bytes, ct);
                File.Move(temp, target, overwrite: true);
                logger.LogInformation("Drew social card {File}", name);
            }
        }
        finally
        {
            Drawing.Release();
        }

        return target;
    }

    /// <summary>Draws the card. The text goes in as drawing text, never as an ImageMagick file name or property, so "@file" or "%[...]" in a title is just characters.</summary>
    public static byte[] Render(CardText text)
    {
        using var image = new MagickImage(new MagickColor("#14202e"), Width, Height);
        var bold = FontFile(bold: true);
        var regular = FontFile(bold: false);
        new Drawables().FillColor(new MagickColor("#e0a84f")).Rectangle(0, 0, 24, Height).Draw(image);

        var title = Clean(text.Title);
        double size = 64;
        List<string> lines;
        // The largest size at which the title fits in four lines; a very long one is cut with an ellipsis.
        while (true)
        {
            lines = Wrap(bold, size, title, Width - 160);
            if (lines.Count <= 4 || size <= 40)
            {
                break;
            }

            size -= 6;
        }

        if (lines.Count > 4)
        {
            lines = [.. lines.Take(4)];
            lines[3] = lines[3].TrimEnd() + "…";
        }

        var y = 110 + size;
        foreach (var line in lines)
        {
            new Drawables().Font(bold).FontPointSize(size).FillColor(MagickColors.White)
                .TextEncoding(Encoding.UTF8).Text(80, y, line).Draw(image);
            y += size * 1.25;
        }

        var footer = string.Join("  ·  ", new[] { Clean(text.Author), Clean(text.SiteName) }.Where(s => s.Length > 0));
        if (footer.Length > 0)
        {
            var fitted = Wrap(regular, 32, footer, Width - 160).FirstOrDefault() ?? "";
            new Drawables().Font(regular).FontPointSize(32).FillColor(new MagickColor("#c9d3de"))
                .TextEncoding(Encoding.UTF8).Text(80, Height - 70, fitted).Draw(image);
        }

        image.Format = MagickFormat.Png;
        image.Strip();
        return image.ToByteArray();
    }

    /// <summary>A square icon (for the JSON Feed): the site name's first letter.</summary>
    public static byte[] RenderIcon(string siteName)
    {
        using var image = new MagickImage(new MagickColor("#14202e"), 512, 512);
        var letter = Clean(siteName).FirstOrDefault(char.IsLetterOrDigit);
        var initial = letter == default ? "N" : char.ToUpperInvariant(letter).ToString();
        new Drawables().Font(FontFile(bold: true)).FontPointSize(300).FillColor(new MagickColor("#e0a84f"))
            .Gravity(Gravity.Center).Text(0, 0, initial).Draw(image);
        image.Format = MagickFormat.Png;
        image.Strip();
        return image.ToByteArray();
    }

    /// <summary>Control characters (a newline in a title) would break the layout; they become spaces.</summary>
    private static string Clean(string s) =>
        string.Join(' ', new string([.. s.Select(c => char.IsControl(c) ? ' ' : c)]).Split(' ', StringSplitOptions.RemoveEmptyEntries));

    private static List<string> Wrap(string font, double size, string text, int maxWidth)
    {
        // A 1×1 image only to measure text with the font's metrics.
        using var settings = new MagickImage(MagickColors.Transparent, 1, 1);
        settings.Settings.Font = font;
        settings.Settings.FontPointsize = size;
        double WidthOf(string s) => settings.FontTypeMetrics(s)?.TextWidth ?? s.Length * size * 0.6;

        var lines = new List<string>();
        var current = "";
        foreach (var word in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = current.Length == 0 ? word : current + " " + word;
            if (WidthOf(candidate) <= maxWidth)
            {
                current = candidate;
                continue;
            }

            if (current.Length > 0)
            {
                lines.Add(current);
            }

            // A single word wider than the card (a URL, a long compound) is cut by characters.
            current = word;
            while (WidthOf(current) > maxWidth && current.Length > 1)
            {
                var cut = current.Length - 1;
                while (cut > 1 && WidthOf(current[..cut]) > maxWidth)
                {
                    cut = Math.Max(1, cut * 3 / 4);
                }

                lines.Add(current[..cut]);
                current = current[cut..];
            }
        }

        if (current.Length > 0)
        {
            lines.Add(current);
        }

        return lines;
    }

    /// <summary>DejaVu Sans (Debian's fonts-dejavu, installed in CI and the container); ImageMagick's default font otherwise.</summary>
    private static string FontFile(bool bold)
    {
        var name = bold ? "DejaVuSans-Bold.ttf" : "DejaVuSans.ttf";
        foreach (var folder in new[] { "/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu", "/usr/share/fonts/TTF", "/Library/Fonts", "C:\\Windows\\Fonts" })
        {
            var path = Path.Combine(folder, name);
            if (File.Exists(path))
            {
                return path;
            }
        }

        return bold ? "DejaVu-Sans-Bold" : "DejaVu-Sans";
    }
}

public static class SocialCardsExtensions
{
    public static WebApplicationBuilder AddSocialCards(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<SocialCardStore>();
        builder.Services.AddScoped<SocialCardJob>();
        return builder;
    }

    public static WebApplication MapSocialCards(this WebApplication app)
    {
        // The address names the page and the hash of what the card shows. Only a card for the page's current text
        // is drawn, so nobody can make the server draw (and store) arbitrary text.
        app.MapGet(SocialCardStore.Prefix + "{kind}/{file}", async (string kind, string file, AppDbContext db, Author.AuthorIdentity author,
            IOptions<SiteOptions> site, SocialCardStore cards, HttpContext http, CancellationToken ct) =>
        {
            if (!file.EndsWith(".png", StringComparison.Ordinal) || file.Split('.') is not [var slug, var hash, "png"])
            {
                return Results.NotFound();
            }

            string? title = kind switch
            {
                "notes" => await Archive.PublicContent.Notes(db).AsNoTracking().Where(n => n.Slug == slug).Select(n => n.Title).FirstOrDefaultAsync(ct),
                "issues" => await Archive.PublicContent.Issues(db).AsNoTracking().Where(i => i.Slug == slug).Select(i => i.Subject).FirstOrDefaultAsync(ct),
                _ => null,
            };
            if (title is null)
            {
                return Results.NotFound();
            }

            var text = new CardText(title, await author.NameAsync(ct), site.Value.Title);
            return Serve(http, text.Hash == hash ? await cards.EnsureAsync(text, ct) : null);
        }).AllowAnonymous();

        app.MapGet(SocialCardStore.Prefix + "{file}", async (string file, Author.AuthorIdentity author, IOptions<SiteOptions> site, SocialCardStore cards, HttpContext http, CancellationToken ct) =>
        {
            var siteCard = new CardText(site.Value.Title, await author.NameAsync(ct), site.Value.Tagline);
            string? path = null;
            if ("/social/" + file == SocialCardStore.PathFor(null, null, siteCard))
            {
                path = await cards.EnsureAsync(siteCard, ct);
            }
            else if ("/social/" + file == SocialCardStore.IconPath(site.Value.Title))
            {
                path = await cards.EnsureIconAsync(site.Value.Title, ct);
            }

            return Serve(http, path);
        }).AllowAnonymous();
        return app;
    }

    private static IResult Serve(HttpContext http, string? path)
    {
        if (path is null)
        {
            return Results.NotFound();
        }

        // The name carries the hash of the text, so the bytes behind it never change.
        http.Response.Headers.CacheControl = "public, max-age=31536000, immutable";
        return Results.File(path, "image/png");
    }
}

/// <summary>
/// Draws a note's or issue's card when it is published (a Hangfire job with the id only), so the first crawler
/// to fetch a shared link finds it ready. A card not drawn here (a file-backed note, another node's data folder)
/// is drawn on its first request instead.
/// </summary>
public sealed class SocialCardJob(AppDbContext db, Author.AuthorIdentity author, IOptions<SiteOptions> site, SocialCardStore cards)
{
    public async Task DrawNoteAsync(int noteId, CancellationToken ct)
    {
        var title = await Archive.PublicContent.Notes(db).AsNoTracking().Where(n => n.Id == noteId).Select(n => n.Title).FirstOrDefaultAsync(ct);
        if (title is not null)
        {
            await cards.EnsureAsync(new CardText(title, await author.NameAsync(ct), site.Value.Title), ct);
        }
    }

    public async Task DrawIssueAsync(int issueId, CancellationToken ct)
    {
        var title = await Archive.PublicContent.Issues(db).AsNoTracking().Where(i => i.Id == issueId).Select(i => i.Subject).FirstOrDefaultAsync(ct);
        if (title is not null)
        {
            await cards.EnsureAsync(new CardText(title, await author.NameAsync(ct), site.Value.Title), ct);
        }
    }
}
