using System.Net;
using Microsoft.EntityFrameworkCore;
using Newsletter.Mail;
using Newsletter.Testing;
using Newsletter.Web.Digests;
using static Newsletter.Tests.Digests.DigestFixture;

namespace Newsletter.Tests.Digests;

public class DigestHostileInputTests
{
    [Fact]
    public async Task ADigestNameWithALineBreakIsRefusedAndNothingIsSaved()
    {
        using var app = new NewsletterApp();
        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(client);

        var response = await Forms.PostAsync(client, "/admin/digests/new", new Dictionary<string, string>
        {
            ["Input.Name"] = "Weekly\r\nBcc: everyone@example.org",
            ["Input.Cadence"] = "Weekly",
            ["Input.Weekday"] = "1",
            ["Input.Hour"] = "9",
            ["Input.DayOfMonth"] = "1",
            ["Input.NoteCount"] = "5",
            ["Input.Mode"] = "SendItself",
        });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("Give the digest a name on one line.", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Equal(0, await QueryAsync(app, db => db.Digests.CountAsync(Ct)));

        // The same form with a good name saves, and the page lists it with its next run.
        var saved = await Forms.PostAsync(client, "/admin/digests/new", new Dictionary<string, string>
        {
            ["Input.Name"] = "Weekly",
            ["Input.Cadence"] = "Weekly",
            ["Input.Weekday"] = "1",
            ["Input.Hour"] = "9",
            ["Input.DayOfMonth"] = "1",
            ["Input.NoteCount"] = "5",
            ["Input.Mode"] = "SendItself",
        });
        Assert.Equal(HttpStatusCode.Redirect, saved.StatusCode);
        var page = await client.GetStringAsync("/admin/digests", Ct);
        Assert.Contains("Every Monday at 09:00, sends itself", page, StringComparison.Ordinal);
        Assert.Contains("Skip next run", page, StringComparison.Ordinal);
        var id = await QueryAsync(app, db => db.Digests.Select(d => d.Id).SingleAsync(Ct));
        Assert.Contains("value=\"Weekly\"", await client.GetStringAsync($"/admin/digests/{id}", Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ABrokenTemplateFailsTheRunWithItsFileAndLineAndDraftsNothing()
    {
        var templates = RepoPaths.TempDir("digest-templates");
        File.WriteAllText(Path.Combine(templates, "digest.liquid"), "{{ intro }}\n\n{% for note in notes %}\n## {{ note.link }\n{% endfor %}\n");
        using var app = new NewsletterApp(new() { ["Digests:TemplatesFolder"] = templates });
        var digest = await AddDigestAsync(app, Weekly(mode: DigestMode.SendItself));
        await AddNoteAsync(app, "Leases beat locks");

        var e = await Assert.ThrowsAsync<TemplateException>(async () => await RunAtAsync(app, digest.Id, await NextRunAsync(app, digest.Id)));

        Assert.Contains(Path.Combine(templates, "digest.liquid"), e.Message, StringComparison.Ordinal);
        Assert.Contains("line 4", e.Message, StringComparison.Ordinal);
        Assert.Equal(0, await QueryAsync(app, db => db.Issues.CountAsync(Ct)));
        Assert.Equal(0, await QueryAsync(app, db => db.DigestRuns.CountAsync(Ct)));
        Assert.Equal(0, await QueryAsync(app, db => db.Deliveries.CountAsync(Ct)));
    }

    [Fact]
    public async Task ATopicNoNoteCarriesIsSavedButEveryPageSaysTheDigestWaitsForIt()
    {
        using var app = new NewsletterApp();
        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(client);
        await AddNoteAsync(app, "Leases beat locks", tags: "distributed-systems");

        // The form offers the tags that published notes carry.
        var form = await client.GetStringAsync("/admin/digests/new", Ct);
        Assert.Contains("<option value=\"distributed-systems\">", form, StringComparison.Ordinal);

        // A typo is still saved (a digest may wait for a tag not used yet), but said so at once and on the list.
        var saved = await Forms.PostAsync(client, "/admin/digests/new", new Dictionary<string, string>
        {
            ["Input.Name"] = "Systems weekly",
            ["Input.Topic"] = "distributed-sytems",
            ["Input.Cadence"] = "Weekly",
            ["Input.Weekday"] = "1",
            ["Input.Hour"] = "9",
            ["Input.DayOfMonth"] = "1",
            ["Input.NoteCount"] = "5",
            ["Input.Mode"] = "Approval",
        });
        Assert.Equal(HttpStatusCode.Redirect, saved.StatusCode);
        var list = await client.GetStringAsync("/admin/digests", Ct);
        Assert.Contains("No published note is tagged “distributed-sytems” yet, so this digest drafts nothing until one is. Tags in use: distributed-systems", list, StringComparison.Ordinal);
        Assert.Contains("class=\"alert alert-warn digest-topic-unused\"", list, StringComparison.Ordinal);

        // Once a note carries the tag, the warning goes.
        await AddNoteAsync(app, "A typo of a tag", tags: "distributed-sytems");
        Assert.DoesNotContain("digest-topic-unused", await client.GetStringAsync("/admin/digests", Ct), StringComparison.Ordinal);
    }
}
