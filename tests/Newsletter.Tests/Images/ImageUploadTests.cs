using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using ImageMagick;
using ImageMagick.Drawing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;
using Newsletter.Tests.Sending;
using Newsletter.Web.Data;
using Newsletter.Web.Images;
using Newsletter.Web.Issues;
using static Newsletter.Tests.Admin.AuthorTestClients;

namespace Newsletter.Tests.Images;

public class ImageUploadTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A photograph as a camera leaves it: larger than any email, with a comment and EXIF that must not leak.</summary>
    public static byte[] Photo(int width = 3000, int height = 2000)
    {
        using var image = new MagickImage(MagickColors.SteelBlue, (uint)width, (uint)height);
        image.Draw(new Drawables().FillColor(MagickColors.Orange).Rectangle(width / 4.0, height / 4.0, width / 2.0, height / 2.0));
        image.Format = MagickFormat.Jpeg;
        image.SetAttribute("comment", "shot at 52.5200 N, 13.4050 E");
        var exif = new ExifProfile();
        exif.SetValue(ExifTag.Make, "Secret Camera Co");
        image.SetProfile(exif);
        return image.ToByteArray();
    }

    /// <summary>Posts an upload the way the editor's script does (Accept: application/json) and returns the answer.</summary>
    public static async Task<(HttpResponseMessage Response, JsonElement Body)> UploadAsync(HttpClient client, byte[] bytes, string fileName, string? alt = "A blue square with an orange corner")
    {
        // Any author's page carries a token; a viewer's images page has no upload form.
        var token = await Forms.TokenAsync(client, "/admin/account");
        using var form = new MultipartFormDataContent
        {
            { new StringContent(token), "__RequestVerificationToken" },
            { new StringContent(alt ?? ""), "alt" },
        };
        var file = new ByteArrayContent(bytes);
        file.Headers.ContentType = new MediaTypeHeaderValue("image/png");
        form.Add(file, "file", fileName);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/admin/images") { Content = form };
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        var response = await client.SendAsync(request, Ct);
        var text = await response.Content.ReadAsStringAsync(Ct);
        return (response, text.StartsWith('{') ? JsonDocument.Parse(text).RootElement.Clone() : default);
    }

    [Fact]
    public async Task AnUploadIsResizedForEmailStrippedStoredUnderItsHashAndServedForAYear()
    {
        using var app = new NewsletterApp();
        var owner = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(owner);

        var (response, body) = await UploadAsync(owner, Photo(), "holiday.jpg");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var path = body.GetProperty("path").GetString()!;
        Assert.Matches("^/media/[0-9a-f]{64}\\.jpg$", path);
        Assert.Equal($"![A blue square with an orange corner]({path})", body.GetProperty("markdown").GetString());
        Assert.Equal(1200, body.GetProperty("width").GetInt32());
        Assert.Equal(800, body.GetProperty("height").GetInt32());

        // Where the bytes are depends on the database: a file in the data folder with one host, the row on PostgreSQL.
        var hash = path["/media/".Length..^".jpg".Length];
        byte[] stored;
        if (app.PostgresConnectionString is null)
        {
            stored = await File.ReadAllBytesAsync(Path.Combine(app.DataFolder, "media", hash + ".jpg"), Ct);
        }
        else
        {
            await using var scope = app.Services.CreateAsyncScope();
            stored = (await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<StoredImage>().SingleAsync(Ct)).Bytes!;
            Assert.False(Directory.Exists(Path.Combine(app.DataFolder, "media")));
        }

        Assert.Equal(hash, Convert.ToHexStringLower(SHA256.HashData(stored)));
        using (var image = new MagickImage(stored))
        {
            Assert.Equal((1200u, 800u), (image.Width, image.Height));
            Assert.Null(image.GetExifProfile());
            Assert.Null(image.GetAttribute("comment"));
        }

        // Public, and the same for a year: the name changes whenever the content does.
        var reader = app.CreateClient();
        var served = await reader.GetAsync(path, Ct);
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        Assert.Equal("image/jpeg", served.Content.Headers.ContentType!.MediaType);
        Assert.Equal("public, max-age=31536000, immutable", served.Headers.CacheControl!.ToString());
        Assert.Equal(stored, await served.Content.ReadAsByteArrayAsync(Ct));
        Assert.Equal(HttpStatusCode.NotFound, (await reader.GetAsync("/media/" + new string('0', 64) + ".jpg", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await reader.GetAsync("/media/..%2Fnewsletter.db", Ct)).StatusCode);

        // The same picture again is the same image, not a second copy.
        var (_, again) = await UploadAsync(owner, Photo(), "holiday-copy.jpg");
        Assert.Equal(path, again.GetProperty("path").GetString());
    }

    [Fact]
    public async Task HostileUploadsAreRefusedWithAReason()
    {
        using var app = new NewsletterApp(new Dictionary<string, string?> { ["Images:MaxUploadMegabytes"] = "1" });
        var owner = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(owner);

        var svg = Encoding.UTF8.GetBytes("<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(document.cookie)</script></svg>");
        await Refused(svg, "evil.png", "SVG files are not accepted");
        await Refused(Encoding.UTF8.GetBytes("#!/bin/sh\nrm -rf /\n"), "script.jpg", "not an image this site takes");
        await Refused(Encoding.UTF8.GetBytes("%PDF-1.7\n"), "paper.pdf", "not an image this site takes");
        // 100,000 × 100,000 pixels declared in 60 bytes: refused from the header, before anything is decoded.
        await Refused(PngBomb(100_000, 100_000), "bomb.png", "100,000 × 100,000 pixels");
        await Refused(PngBomb(20_000, 20_000), "bomb2.png", "20,000 × 20,000 pixels; the limit is 50 megapixels");
        // A GIF of one 1×1 frame on a canvas of 65,535 × 65,535 (29 bytes): the canvas is what putting the frames
        // together allocates, and it once wrote a 12 GB pixel cache to /tmp. Refused from its header.
        await Refused(GifOnCanvas(65_535, 65_535), "bomb.gif", "65,535 × 65,535 pixels");
        await Refused(GifOnCanvas(18_000, 18_000), "bomb2.gif", "18,000 × 18,000 pixels; the limit is 50 megapixels");
        // A JPEG that is a header and then garbage.
        await Refused([0xFF, 0xD8, 0xFF, 0xE0, .. RandomNumberGenerator.GetBytes(2000)], "broken.jpg", "could not be");
        await Refused(Photo(400, 300), "no-alt.jpg", "alt text", alt: "  ");

        // Over the configured size: 413 and the limit in words.
        var huge = new byte[1_300_000];
        Photo(400, 300).CopyTo(huge, 0);
        var (tooBig, body) = await UploadAsync(owner, huge, "huge.jpg");
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooBig.StatusCode);
        Assert.Contains("images up to 1 MB", body.GetProperty("error").GetString(), StringComparison.Ordinal);

        await using var scope = app.Services.CreateAsyncScope();
        Assert.Equal(0, await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<StoredImage>().CountAsync(Ct));

        async Task Refused(byte[] bytes, string name, string reason, string? alt = "alt")
        {
            var (response, answer) = await UploadAsync(owner, bytes, name, alt);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Contains(reason, answer.GetProperty("error").GetString(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task WithoutScriptTheUploadPageShowsTheMarkdownToPasteAndAViewerMayNotUpload()
    {
        using var app = new NewsletterApp();
        var owner = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(owner);
        var token = await Forms.TokenAsync(owner, "/admin/images");
        using var form = new MultipartFormDataContent
        {
            { new StringContent(token), "__RequestVerificationToken" },
            { new StringContent("A chart"), "alt" },
            { new StringContent("/admin/notes/new"), "returnUrl" },
            { new ByteArrayContent(Photo(800, 600)), "file", "chart.jpg" },
        };
        var page = await owner.PostAsync("/admin/images", form, Ct);
        var html = WebUtility.HtmlDecode(await page.Content.ReadAsStringAsync(Ct));
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Matches(@"!\[A chart\]\(/media/[0-9a-f]{64}\.jpg\)", html);
        Assert.Contains("href=\"/admin/notes/new\"", html, StringComparison.Ordinal);

        var viewer = await CoAuthorAsync(app, owner, "vera@example.org", "Viewer");
        var (refused, _) = await UploadAsync(viewer, Photo(400, 300), "mine.jpg");
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
    }

    [Fact]
    public async Task AnUploadedImageReachesTheReaderByAbsoluteAddressAtEmailWidth()
    {
        await using var smtp = await SmtpServer.StartAsync();
        using var app = new NewsletterApp(SendingFixture.Settings(smtp, new() { ["Site:BaseUrl"] = "http://news.example.org" }));
        await SendingFixture.AddReadersAsync(app, 2);
        var issueId = await SendingFixture.AddIssueAsync(app, subject: "Pictures of a ledger");
        var owner = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(owner);
        var (_, body) = await UploadAsync(owner, Photo(), "ledger.jpg", "The ledger as a table of rows");
        var path = body.GetProperty("path").GetString()!;

        var editUrl = $"/admin/issues/{issueId}";
        var screen = new Dictionary<string, string> { ["subject"] = "Pictures of a ledger", ["markdown"] = "Look:\n\n" + body.GetProperty("markdown").GetString(), ["channel"] = "both" };
        await Forms.PostAsync(owner, editUrl, screen, editUrl + "?handler=Save");
        await Forms.PostAsync(owner, editUrl, screen, editUrl + "?handler=SendNow");
        await SendingFixture.WaitForStatusAsync(app, issueId, IssueStatus.Sent);

        var received = await smtp.WaitForAsync(2);
        Assert.All(received, r =>
        {
            var html = r.Message.HtmlBody!;
            Assert.Contains($"<img src=\"http://news.example.org{path}\" alt=\"The ledger as a table of rows\" width=\"600\" height=\"400\">", html, StringComparison.Ordinal);
        });
        var served = await app.CreateClient().GetAsync(path, Ct);
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
    }

    [Fact]
    public void PreflightWarnsAboutImagesWithoutAltTextAndOversizedImages()
    {
        var big = new StoredImage { Hash = new string('a', 64), Extension = "png", Width = 1200, Height = 4000, Length = 900_000 };
        var fine = new StoredImage { Hash = new string('b', 64), Extension = "jpg", Width = 1200, Height = 800, Length = 90_000 };
        var html = $"<p><img src=\"https://news.example.org{big.Path}\" alt=\"A very tall screenshot\">"
            + $"<img src=\"https://news.example.org{fine.Path}\">"
            + "<img src=\"https://elsewhere.example/wide.png\" alt=\"Wide\" width=\"1600\"></p><a href=\"https://news.example.org/unsubscribe/x\">Unsubscribe</a>";
        var uploaded = new Dictionary<string, StoredImage> { [big.Path] = big, [fine.Path] = fine };

        var warnings = Preflight.Check(html, "/unsubscribe/x", new HashSet<string>(), "https://news.example.org", uploaded: uploaded, images: new ImageOptions());

        Assert.Contains(warnings, w => w.Contains("has no alt text", StringComparison.Ordinal) && w.Contains(fine.Path, StringComparison.Ordinal));
        Assert.Contains(warnings, w => w.Contains(big.Path, StringComparison.Ordinal) && w.Contains("878 KB", StringComparison.Ordinal));
        Assert.Contains(warnings, w => w.Contains(big.Path, StringComparison.Ordinal) && w.Contains("2,000 px tall", StringComparison.Ordinal));
        Assert.Contains(warnings, w => w.Contains("wide.png", StringComparison.Ordinal) && w.Contains("1,600 px wide", StringComparison.Ordinal));
        Assert.DoesNotContain(warnings, w => w.Contains(fine.Path, StringComparison.Ordinal) && w.Contains("KB", StringComparison.Ordinal));
    }

    /// <summary>A PNG whose header declares <paramref name="width"/> × <paramref name="height"/> pixels, with a token of data.</summary>
    /// <summary>A GIF89a whose header declares the canvas, holding one 1×1 frame at its corner.</summary>
    private static byte[] GifOnCanvas(ushort width, ushort height) =>
    [
        .. "GIF89a"u8, (byte)width, (byte)(width >> 8), (byte)height, (byte)(height >> 8), 0x00, 0x00, 0x00,
        (byte)',', 0, 0, 0, 0, 1, 0, 1, 0, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, (byte)';',
    ];

    private static byte[] PngBomb(int width, int height)
    {
        using var png = new MemoryStream();
        png.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        var header = new byte[13];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(header, width);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), height);
        header[8] = 8; // bit depth
        header[9] = 0; // greyscale
        Chunk(png, "IHDR", header);
        Chunk(png, "IDAT", [0x78, 0x9C, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01]);
        Chunk(png, "IEND", []);
        return png.ToArray();

        static void Chunk(Stream s, string type, byte[] data)
        {
            var length = new byte[4];
            System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(length, data.Length);
            s.Write(length);
            var typed = Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
            s.Write(typed);
            var crc = new byte[4];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(crc, Crc32(typed));
            s.Write(crc);
        }
    }

    private static uint Crc32(byte[] bytes)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in bytes)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++)
            {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
            }
        }

        return ~crc;
    }
}
