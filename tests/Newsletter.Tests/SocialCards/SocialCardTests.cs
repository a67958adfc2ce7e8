using System.Text.Json;
using System.Text.RegularExpressions;
using ImageMagick;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;
using Newsletter.Web.SocialCards;
using static Newsletter.Tests.Archive.ArchiveData;

namespace Newsletter.Tests.SocialCards;

public partial class SocialCardTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public void ACardIsAValid1200By630Png()
    {
        var bytes = SocialCardStore.Render(new CardText("Exactly once is a ledger, not a promise", "Ada Example", "Working notes"));

        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], bytes[..4]);
        using var image = new MagickImage(bytes);
        Assert.Equal(MagickFormat.Png, image.Format);
        Assert.Equal(1200u, image.Width);
        Assert.Equal(630u, image.Height);
    }

    [Theory]
    [InlineData("@/etc/passwd")]
    [InlineData("%[pixel:p{0,0}] %w %h \\n \"quoted\" 'single' <script>alert(1)</script>")]
    [InlineData("Line one\nline two\r\n\ttabbed \u202Eright-to-left \U0001F600 Ünïcødé")]
    [InlineData("Averyveryveryveryveryveryveryveryveryveryveryveryveryveryveryveryveryveryveryveryveryverylongwordwithoutanyspaceatall and then many more words to need the ellipsis at the end of the fourth line of the card, which keeps going and going and going and going and going and going and going")]
    public void AHostileTitleRendersAsPlainTextIntoAValidCard(string title)
    {
        var bytes = SocialCardStore.Render(new CardText(title, "Ada <b>", "Site & \"Co\""));

        using var image = new MagickImage(bytes);
        Assert.Equal(1200u, image.Width);
        Assert.Equal(630u, image.Height);
        // "@/etc/passwd" would have been read as a file had the title gone in as an ImageMagick file name.
        Assert.DoesNotContain("root:", System.Text.Encoding.Latin1.GetString(bytes), StringComparison.Ordinal);
    }

    [Fact]
    public async Task NotePagesAndIssuePagesPointOgImageAtAnAbsolutePngThatIsServedWithLongCaching()
    {
        await using var app = new NewsletterApp();
        app.WriteNote("n.md", Note("A note worth sharing", "worth-sharing", "2026-03-01", "systems"));
        await ImportNotesAsync(app);
        await AddIssueAsync(app, 1, "Issue one: the ledger", Utc(2026, 3, 2));
        var client = app.CreateClient();

        foreach (var page in new[] { "/notes/worth-sharing", "/issues/" + Slug("Issue one: the ledger") })
        {
            var html = await client.GetStringAsync(page, Ct);
            var og = OgImage(html);
            Assert.StartsWith("http://localhost/social/", og, StringComparison.Ordinal);
            Assert.EndsWith(".png", og, StringComparison.Ordinal);
            Assert.Equal(og, Meta(html, "twitter:image"));
            Assert.Contains("summary_large_image", html, StringComparison.Ordinal);

            using var response = await client.GetAsync(new Uri(og).PathAndQuery, Ct);
            response.EnsureSuccessStatusCode();
            Assert.Equal("image/png", response.Content.Headers.ContentType?.MediaType);
            Assert.Contains("immutable", response.Headers.CacheControl?.ToString(), StringComparison.Ordinal);
            using var image = new MagickImage(await response.Content.ReadAsByteArrayAsync(Ct));
            Assert.Equal(1200u, image.Width);
            Assert.Equal(630u, image.Height);
            Assert.True(Directory.EnumerateFiles(Path.Combine(app.DataFolder, "cards"), "card-*.png").Any());
        }

        // Other public pages show the site's card, a PNG too.
        var home = OgImage(await client.GetStringAsync("/", Ct));
        Assert.EndsWith(".png", home, StringComparison.Ordinal);
        (await client.GetAsync(new Uri(home).PathAndQuery, Ct)).EnsureSuccessStatusCode();
    }

    [Fact]
    public async Task RepublishingWithANewTitleChangesTheCardAndTheOldAddressIsNoLongerDrawn()
    {
        await using var app = new NewsletterApp();
        app.WriteNote("n.md", Note("The first title", "retitled", "2026-03-01", "systems"));
        await ImportNotesAsync(app);
        var client = app.CreateClient();
        var before = OgImage(await client.GetStringAsync("/notes/retitled", Ct));
        var beforeBytes = await client.GetByteArrayAsync(new Uri(before).PathAndQuery, Ct);

        app.WriteNote("n.md", Note("A better title", "retitled", "2026-03-01", "systems"));
        await ImportNotesAsync(app);
        var after = OgImage(await client.GetStringAsync("/notes/retitled", Ct));
        var afterBytes = await client.GetByteArrayAsync(new Uri(after).PathAndQuery, Ct);

        Assert.NotEqual(before, after);
        Assert.NotEqual(beforeBytes, afterBytes);
        // An address for a title the note no longer has is not drawn: nobody can make the server draw arbitrary text.
        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await client.GetAsync(new Uri(before).PathAndQuery.Replace(".png", "0.png", StringComparison.Ordinal), Ct)).StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await client.GetAsync("/social/notes/no-such-note.0123456789abcdef0123.png", Ct)).StatusCode);
    }

    [Fact]
    public async Task TheJsonFeedHasAPngIconAndFavicon()
    {
        await using var app = new NewsletterApp();
        var client = app.CreateClient();
        using var feed = JsonDocument.Parse(await client.GetStringAsync("/feeds/notes.json", Ct));

        foreach (var field in new[] { "icon", "favicon" })
        {
            var url = feed.RootElement.GetProperty(field).GetString()!;
            Assert.StartsWith("http://localhost/", url, StringComparison.Ordinal);
            Assert.EndsWith(".png", url, StringComparison.Ordinal);
            using var response = await client.GetAsync(new Uri(url).PathAndQuery, Ct);
            response.EnsureSuccessStatusCode();
            using var image = new MagickImage(await response.Content.ReadAsByteArrayAsync(Ct));
            Assert.Equal(MagickFormat.Png, image.Format);
        }
    }

    private static string OgImage(string html) => Meta(html, "og:image");

    private static string Meta(string html, string name) =>
        Regex.Match(html, $"<meta (?:property|name)=\"{Regex.Escape(name)}\" content=\"([^\"]+)\"").Groups[1].Value;
}

public class SocialCardPublishTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task PublishingANoteDrawsItsCardAndRepublishingWithANewTitleDrawsANewOne()
    {
        await using var app = new NewsletterApp();
        int id;
        using (var scope = app.Services.CreateScope())
        {
            var editor = scope.ServiceProvider.GetRequiredService<Newsletter.Web.Notes.NoteEditor>();
            var saved = await editor.SaveAsync(null, new Newsletter.Web.Notes.NoteInput { Title = "Drawn at publish time", Slug = "drawn", Markdown = "Body." }, Newsletter.Web.Notes.NoteIntent.Publish, Ct);
            id = saved.Note!.Id;
        }

        var first = await WaitForCardsAsync(app, 1);
        using (var scope = app.Services.CreateScope())
        {
            var editor = scope.ServiceProvider.GetRequiredService<Newsletter.Web.Notes.NoteEditor>();
            await editor.SaveAsync(id, new Newsletter.Web.Notes.NoteInput { Title = "Retitled, and drawn again", Slug = "drawn", Markdown = "Body." }, Newsletter.Web.Notes.NoteIntent.Publish, Ct);
        }

        var both = await WaitForCardsAsync(app, 2);
        Assert.Contains(first.Single(), both);
        var html = await app.CreateClient().GetStringAsync("/notes/drawn", Ct);
        var hash = Path.GetFileNameWithoutExtension(both.Single(f => f != first.Single()))["card-".Length..];
        Assert.Contains($"http://localhost/social/notes/drawn.{hash}.png", html, StringComparison.Ordinal);
    }

    /// <summary>The job runs on the app's Hangfire workers; this waits for its file, it does not time it.</summary>
    private static async Task<List<string>> WaitForCardsAsync(NewsletterApp app, int count)
    {
        var folder = Path.Combine(app.DataFolder, "cards");
        for (var i = 0; i < 600; i++)
        {
            var files = Directory.Exists(folder) ? Directory.GetFiles(folder, "card-*.png").Select(Path.GetFileName).OfType<string>().ToList() : [];
            if (files.Count >= count)
            {
                return files;
            }

            await Task.Delay(100, Ct);
        }

        throw new TimeoutException($"No {count} cards drawn. {app.JobDiagnostics()}");
    }
}
