using System.Net;
using System.Net.Http.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;
using Newsletter.Web.Data;
using Newsletter.Web.Subscribers;
using static Newsletter.Tests.Api.ApiClients;

namespace Newsletter.Tests.Api;

public class SubscribersApiTests
{
    [Fact]
    public async Task ASubscriberAddedWithDoubleOptInIsPendingGetsAConfirmationAndHistorySaysApi()
    {
        using var app = new NewsletterApp();
        var api = await ClientAsync(app);
        var (created, body) = await PostJsonAsync(api, "/api/v1/subscribers", new { email = "Ann@Example.org", name = "Ann", tags = new[] { "VIP Readers" } });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal("Pending", body.GetProperty("status").GetString());
        Assert.Equal("api", body.GetProperty("source").GetString());
        Assert.Equal("vip-readers", body.GetProperty("tags")[0].GetString());
        var mail = await app.WaitForMailAsync("Ann@example.org");
        Assert.Contains("/confirm/", mail.TextBody, StringComparison.Ordinal);

        var history = await GetJsonAsync(api, created.Headers.Location + "/events");
        Assert.Contains(history.EnumerateArray(), e => e.GetProperty("kind").GetString() == "AddedByAuthor" && e.GetProperty("source").GetString() == "api");

        // Twice is a conflict, not a second reader.
        var (again, problem) = await PostJsonAsync(api, "/api/v1/subscribers", new { email = "ann@example.org" });
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        Assert.Contains("already on the list", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheListFiltersAndPagesByCursorWithoutGapsOrRepeats()
    {
        using var app = new NewsletterApp();
        await Sending.SendingFixture.AddReadersAsync(app, 7, tag: "early");
        await Sending.SendingFixture.AddReadersAsync(app, 3, SubscriberStatus.Unsubscribed, "gone");
        var api = await ClientAsync(app);

        var seen = new List<long>();
        string? cursor = null;
        var pages = 0;
        do
        {
            var page = await GetJsonAsync(api, "/api/v1/subscribers?status=active&tag=early&limit=3" + (cursor is null ? "" : "&cursor=" + cursor));
            seen.AddRange(page.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("id").GetInt64()));
            cursor = page.GetProperty("next").GetString();
            pages++;
        }
        while (cursor is not null && pages < 10);

        Assert.Equal(7, seen.Count);
        Assert.Equal(seen.OrderByDescending(i => i), seen);
        Assert.Equal(3, pages);
        Assert.Equal(3, (await GetJsonAsync(api, "/api/v1/subscribers?status=unsubscribed")).GetProperty("items").GetArrayLength());
        Assert.Single((await GetJsonAsync(api, "/api/v1/subscribers?q=reader0004")).GetProperty("items").EnumerateArray());
        var tags = await GetJsonAsync(api, "/api/v1/subscribers/tags");
        Assert.Contains(tags.EnumerateArray(), t => t.GetProperty("tag").GetString() == "early" && t.GetProperty("subscribers").GetInt32() == 7);
    }

    [Fact]
    public async Task EditsUnsubscribesErasesAndSuppressionsGoThroughTheReaderLifecycle()
    {
        using var app = new NewsletterApp();
        var api = await ClientAsync(app);
        var (_, ann) = await PostJsonAsync(api, "/api/v1/subscribers", new { email = "ann@example.org", doubleOptIn = false, consent = "asked at the meetup" });
        var id = ann.GetProperty("id").GetInt64();
        Assert.Equal("Active", ann.GetProperty("status").GetString());

        var patched = await api.PatchAsJsonAsync($"/api/v1/subscribers/{id}", new { name = "Ann Example" }, Ct);
        Assert.Equal(HttpStatusCode.OK, patched.StatusCode);
        // The same again, and an empty patch, change nothing: no history lines for them below.
        Assert.Equal(HttpStatusCode.OK, (await api.PatchAsJsonAsync($"/api/v1/subscribers/{id}", new { name = "Ann Example" }, Ct)).StatusCode);
        Assert.Equal("Ann Example", (await JsonAsync(await api.PatchAsJsonAsync($"/api/v1/subscribers/{id}", new { }, Ct))).GetProperty("name").GetString());
        var tagged = await api.PutAsync($"/api/v1/subscribers/{id}/tags/beta", null, Ct);
        Assert.Equal("beta", (await JsonAsync(tagged)).GetProperty("tags")[0].GetString());
        var unsubscribed = await api.PostAsync($"/api/v1/subscribers/{id}/unsubscribe", null, Ct);
        Assert.Equal("Unsubscribed", (await JsonAsync(unsubscribed)).GetProperty("status").GetString());

        var events = await GetJsonAsync(api, $"/api/v1/events?subscriber={id}");
        Assert.Equal(["AddedByAuthor", "EditedByAuthor", "EditedByAuthor", "Unsubscribed"], events.GetProperty("items").EnumerateArray().Select(e => e.GetProperty("kind").GetString()));
        var since = events.GetProperty("next").GetString();
        Assert.Empty((await GetJsonAsync(api, $"/api/v1/events?cursor={since}")).GetProperty("items").EnumerateArray());

        // Deleting one who unsubscribed would forget it, and an add or import would make them active again: refused.
        var deleted = await api.DeleteAsync($"/api/v1/subscribers/{id}", Ct);
        Assert.Equal(HttpStatusCode.Conflict, deleted.StatusCode);
        Assert.Contains("This reader unsubscribed, so they are kept", await deleted.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        // A reader who never left may be deleted, and the audit log says who did it.
        var (_, cy) = await PostJsonAsync(api, "/api/v1/subscribers", new { email = "cy@example.org", doubleOptIn = false, consent = "asked" });
        Assert.Equal(HttpStatusCode.NoContent, (await api.DeleteAsync($"/api/v1/subscribers/{cy.GetProperty("id").GetInt64()}", Ct)).StatusCode);
        await using (var audit = app.Services.CreateAsyncScope())
        {
            var entry = await audit.ServiceProvider.GetRequiredService<AppDbContext>().Set<Newsletter.Web.Audit.AuditEntry>()
                .SingleAsync(e => e.Action == Newsletter.Web.Audit.AuditActions.ReaderDelete, Ct);
            Assert.Equal(cy.GetProperty("id").GetInt64().ToString(System.Globalization.CultureInfo.InvariantCulture), entry.ObjectId);
            Assert.Equal("deleted (active), through the API", entry.Detail);
        }

        // Erase: nothing left but the hash, which keeps the address out.
        Assert.Equal(HttpStatusCode.NoContent, (await api.PostAsync($"/api/v1/subscribers/{id}/erase", null, Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await api.GetAsync($"/api/v1/subscribers/{id}", Ct)).StatusCode);
        var check = await GetJsonAsync(api, "/api/v1/suppressions/check?email=ANN@example.org");
        Assert.True(check.GetProperty("suppressed").GetBoolean());
        Assert.Equal("Erased", check.GetProperty("reason").GetString());
        var (back, _) = await PostJsonAsync(api, "/api/v1/subscribers", new { email = "ann@example.org" });
        Assert.Equal(HttpStatusCode.Conflict, back.StatusCode);

        // A manual suppression unsubscribes a reader who has the address, with a line in their history.
        var (_, bob) = await PostJsonAsync(api, "/api/v1/subscribers", new { email = "bob@example.org", doubleOptIn = false, consent = "asked" });
        var (suppressed, _) = await PostJsonAsync(api, "/api/v1/suppressions", new { email = "bob@example.org" });
        Assert.Equal(HttpStatusCode.Created, suppressed.StatusCode);
        var (twice, again) = await PostJsonAsync(api, "/api/v1/suppressions", new { email = "bob@example.org" });
        Assert.Equal(HttpStatusCode.OK, twice.StatusCode);
        // Suppressed already, it says the reason it has, as the check does (it said null).
        Assert.Equal("Manual", again.GetProperty("reason").GetString());
        var bobNow = await GetJsonAsync(api, $"/api/v1/subscribers/{bob.GetProperty("id").GetInt64()}");
        Assert.Equal("Unsubscribed", bobNow.GetProperty("status").GetString());
        Assert.Equal(2, (await GetJsonAsync(api, "/api/v1/suppressions")).GetProperty("items").GetArrayLength());

        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        Assert.False(await db.Subscribers.AnyAsync(s => s.EmailKey == "ann@example.org", Ct));
    }

    [Fact]
    public async Task NotesAreWrittenPublishedAndFileBackedNotesAreLeftToTheirFiles()
    {
        using var app = new NewsletterApp(sampleNotes: true);
        var api = await ClientAsync(app);
        var (created, note) = await PostJsonAsync(api, "/api/v1/notes", new { title = "Written by a script", markdown = "Some **bold** text.", tags = new[] { "api" } });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal("Draft", note.GetProperty("status").GetString());
        Assert.Contains("<strong>bold</strong>", note.GetProperty("html").GetString(), StringComparison.Ordinal);
        var slug = note.GetProperty("slug").GetString();
        Assert.Equal(HttpStatusCode.NotFound, (await app.CreateClient().GetAsync($"/notes/{slug}", Ct)).StatusCode);

        var published = await api.PostAsync($"/api/v1/notes/{note.GetProperty("id").GetInt32()}/publish", null, Ct);
        Assert.Equal("Published", (await JsonAsync(published)).GetProperty("status").GetString());
        Assert.Equal(HttpStatusCode.OK, (await app.CreateClient().GetAsync($"/notes/{slug}", Ct)).StatusCode);

        // A PUT that leaves the slug out (fixing the title) keeps a published note where readers' links point.
        var retitled = await api.PutAsJsonAsync($"/api/v1/notes/{note.GetProperty("id").GetInt32()}", new { title = "Written by a careful script", markdown = "Some **bold** text." }, Ct);
        Assert.Equal(slug, (await JsonAsync(retitled)).GetProperty("slug").GetString());
        Assert.Equal(HttpStatusCode.OK, (await app.CreateClient().GetAsync($"/notes/{slug}", Ct)).StatusCode);

        var (duplicate, problem) = await PostJsonAsync(api, "/api/v1/notes", new { title = "Another", slug });
        Assert.Equal(HttpStatusCode.BadRequest, duplicate.StatusCode);
        Assert.True(problem.GetProperty("errors").TryGetProperty("slug", out _), problem.ToString());

        var fileNote = (await GetJsonAsync(api, "/api/v1/notes?limit=200")).GetProperty("items").EnumerateArray().First(n => n.GetProperty("fileBacked").GetBoolean());
        var refused = await api.PutAsJsonAsync($"/api/v1/notes/{fileNote.GetProperty("id").GetInt32()}", new { title = "Changed" }, Ct);
        Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);
    }

    /// <summary>
    /// A tag longer than a tag can be is refused by name, where it was cut to 40 characters and two long tags with the
    /// same start silently became one; a tag of exactly 40 is kept whole.
    /// </summary>
    [Fact]
    public async Task ATagTooLongToKeepIsRefusedByNameNotCut()
    {
        using var app = new NewsletterApp();
        var api = await ClientAsync(app);
        var forty = new string('a', 40);
        var longer = new string('a', 40) + "-spring";
        var (refused, problem) = await PostJsonAsync(api, "/api/v1/subscribers", new { email = "tags@example.org", doubleOptIn = false, consent = "test", tags = new[] { "ok", longer } });
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Contains("at most 40 characters", problem.GetProperty("errors").GetProperty("tags[1]")[0].GetString(), StringComparison.Ordinal);

        var (created, reader) = await PostJsonAsync(api, "/api/v1/subscribers", new { email = "tags@example.org", doubleOptIn = false, consent = "test", tags = new[] { forty } });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var id = reader.GetProperty("id").GetInt64();
        var put = await api.PutAsync($"/api/v1/subscribers/{id}/tags/{longer}", null, Ct);
        Assert.Equal(HttpStatusCode.BadRequest, put.StatusCode);
        var tags = (await GetJsonAsync(api, $"/api/v1/subscribers/{id}")).GetProperty("tags").EnumerateArray().Select(t => t.GetString()).ToList();
        Assert.Equal([forty], tags);
    }
}
