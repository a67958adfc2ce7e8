using Newsletter.Mail;
using Newsletter.Testing;

namespace Newsletter.Tests.Mail;

/// <summary>The templates as the running app uses them: checked at start-up, re-read when an author edits one.</summary>
public class EmailTemplateTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>The repository's email templates copied to a folder of the test's own, to edit while the app runs.</summary>
    internal static string CopyOfTemplates()
    {
        var folder = RepoPaths.TempDir("templates");
        foreach (var file in Directory.GetFiles(Path.Combine(RepoPaths.Root, "templates", "email")))
        {
            File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
        }

        return folder;
    }

    [Fact]
    public void ABrokenTemplateStopsTheStartNamingTheFileAndTheLine()
    {
        var folder = CopyOfTemplates();
        File.WriteAllText(Path.Combine(folder, "welcome.html.liquid"), "<p>Welcome</p>\n<p>\n{% for note in notes %}{{ note.title }}</p>\n");
        using var app = new NewsletterApp(new() { ["Mail:TemplatesFolder"] = folder });

        var e = Assert.Throws<TemplateException>(() => app.CreateClient());

        Assert.Contains(Path.Combine(folder, "welcome.html.liquid") + " does not parse: line 3", e.Message, StringComparison.Ordinal);
        Assert.Contains("endfor", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnEditedTemplateShowsInTheNextEmailWithoutARestart()
    {
        var folder = CopyOfTemplates();
        using var app = new NewsletterApp(new() { ["Mail:TemplatesFolder"] = folder });
        var client = app.CreateClient();
        await client.PostAsync("/subscribe", System.Net.Http.Json.JsonContent.Create(new { email = "ann@example.org" }), Ct);
        Assert.StartsWith("Confirm your subscription", (await app.WaitForMailAsync("ann@example.org")).Subject, StringComparison.Ordinal);

        var subject = Path.Combine(folder, "confirm.subject.liquid");
        File.WriteAllText(subject, "{% assign who = subscriber.email | split: '@' | first %}{{ who | capitalize }}, one click for {{ site.title | upcase }}");
        File.SetLastWriteTimeUtc(subject, DateTime.UtcNow.AddSeconds(5));
        await client.PostAsync("/subscribe", System.Net.Http.Json.JsonContent.Create(new { email = "bea@example.org" }), Ct);

        var edited = await app.WaitForMailAsync("bea@example.org");
        Assert.Matches("^Bea, one click for [A-Z ]+$", edited.Subject);
    }
}
