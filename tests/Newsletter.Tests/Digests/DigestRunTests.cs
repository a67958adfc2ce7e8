using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;
using Newsletter.Web.Digests;
using Newsletter.Web.Issues;
using static Newsletter.Tests.Digests.DigestFixture;

namespace Newsletter.Tests.Digests;

/// <summary>What a run drafts, and when it drafts nothing: the job's method is called at chosen moments, never waited for.</summary>
public class DigestRunTests
{
    private static NewsletterApp NewApp() => new(new() { ["Site:TimeZone"] = Zone });

    [Fact]
    public async Task AWeeklyDigestWithThreeNewNotesDraftsOneIssueContainingThem()
    {
        using var app = NewApp();
        var digest = await AddDigestAsync(app, Weekly());
        var notes = new[]
        {
            await AddNoteAsync(app, "Leases beat locks"),
            await AddNoteAsync(app, "The 40 ms stall [solved]"),
            await AddNoteAsync(app, "Numbers need a harness"),
        };
        var draftNote = await AddNoteAsync(app, "Not ready yet", publish: false);
        var monday = await NextRunAsync(app, digest.Id);

        var result = await RunAtAsync(app, digest.Id, monday);

        Assert.Equal(DigestRunOutcome.Drafted, result.Outcome);
        var issue = await QueryAsync(app, db => db.Issues.AsNoTracking().SingleAsync(Ct));
        Assert.Equal(result.IssueId, issue.Id);
        Assert.Equal(IssueStatus.Draft, issue.Status);
        var local = TimeZoneInfo.ConvertTimeFromUtc(monday, TimeZoneInfo.FindSystemTimeZoneById(Zone));
        Assert.Equal(9, local.Hour);
        Assert.Equal(DayOfWeek.Monday, local.DayOfWeek);
        Assert.StartsWith("Weekly notes: ", issue.Subject, StringComparison.Ordinal);
        Assert.Contains("What I wrote down this week.", issue.Html, StringComparison.Ordinal);
        foreach (var note in notes)
        {
            Assert.Contains($"href=\"http://localhost/notes/{note.Slug}\"", issue.Html, StringComparison.Ordinal);
            Assert.Contains(note.Summary, issue.PlainText, StringComparison.Ordinal);
        }

        // A title's brackets stay text, not a broken link.
        Assert.Contains("The 40 ms stall [solved]</a>", issue.Html, StringComparison.Ordinal);
        Assert.DoesNotContain(draftNote.Slug, issue.Html, StringComparison.Ordinal);

        // The same period again (a retry, a second node a minute later): nothing new is drafted.
        Assert.Equal(DigestRunOutcome.AlreadyDrafted, (await RunAtAsync(app, digest.Id, monday.AddMinutes(3))).Outcome);
        Assert.Equal(1, await QueryAsync(app, db => db.Issues.CountAsync(Ct)));
    }

    [Fact]
    public async Task PostsBroughtFromAnotherPlatformAfterTheDigestAreTheArchiveNotNewNotes()
    {
        using var app = NewApp();
        var digest = await AddDigestAsync(app, Weekly());
        // After the digest: an archive post dated 2021 (as the post import makes them), one dated the day before
        // (the author's zone behind UTC's date) and one dated today.
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var editor = scope.ServiceProvider.GetRequiredService<Newsletter.Web.Notes.NoteEditor>();
            foreach (var (title, date) in new[] { ("Old rust post from 2021", new DateTime(2021, 5, 1)), ("Late last night", DateTime.UtcNow.Date.AddDays(-1)) })
            {
                var saved = await editor.SaveAsync(null, new Newsletter.Web.Notes.NoteInput { Title = title, Markdown = "Text.", Date = date }, Newsletter.Web.Notes.NoteIntent.Publish, Ct);
                Assert.Equal(Newsletter.Web.Notes.NoteEditOutcome.Saved, saved.Outcome);
            }
        }

        await AddNoteAsync(app, "Written today");
        var fresh = await QueryAsync(app, async db =>
        {
            await using var scope = app.Services.CreateAsyncScope();
            var runner = scope.ServiceProvider.GetRequiredService<DigestRunner>();
            return await runner.NewNotesAsync(await db.Digests.AsNoTracking().FirstAsync(d => d.Id == digest.Id, Ct), Ct);
        });
        Assert.Equal(["Late last night", "Written today"], fresh.Select(n => n.Title));
    }

    [Fact]
    public async Task NoNewNoteDraftsNothingAndTakenNotesAreNotTakenAgain()
    {
        using var app = NewApp();
        var digest = await AddDigestAsync(app, Weekly());
        var monday = await NextRunAsync(app, digest.Id);

        Assert.Equal(DigestRunOutcome.NothingNew, (await RunAtAsync(app, digest.Id, monday)).Outcome);
        Assert.Equal(0, await QueryAsync(app, db => db.Issues.CountAsync(Ct)));

        await AddNoteAsync(app, "One thought");
        Assert.Equal(DigestRunOutcome.Drafted, (await RunAtAsync(app, digest.Id, monday.AddDays(7))).Outcome);
        // A week later with nothing published since: the note of last week is not new any more.
        Assert.Equal(DigestRunOutcome.NothingNew, (await RunAtAsync(app, digest.Id, monday.AddDays(14))).Outcome);
        Assert.Equal(1, await QueryAsync(app, db => db.Issues.CountAsync(Ct)));
    }

    [Fact]
    public async Task TwoRunsRacingForOnePeriodDraftOneIssue()
    {
        using var app = NewApp();
        var digest = await AddDigestAsync(app, Weekly());
        await AddNoteAsync(app, "Leases beat locks");
        await AddNoteAsync(app, "Numbers need a harness");
        var monday = await NextRunAsync(app, digest.Id);

        // Both runs read the notes and find no run for the period, then wait for each other before claiming it:
        // only the unique (digest, period) row can keep them from drafting twice.
        using var bothRead = new Barrier(2);
        Task Stall(CancellationToken ct) => Task.Run(() => bothRead.SignalAndWait(TimeSpan.FromSeconds(30), ct), ct);
        var results = await Task.WhenAll(
            RunAtAsync(app, digest.Id, monday, r => r.BeforeClaim = Stall),
            RunAtAsync(app, digest.Id, monday.AddSeconds(20), r => r.BeforeClaim = Stall));

        Assert.Equal([DigestRunOutcome.Drafted, DigestRunOutcome.AlreadyDrafted], results.Select(r => r.Outcome).Order());
        Assert.Equal(results[0].IssueId, results[1].IssueId);
        Assert.Equal(1, await QueryAsync(app, db => db.Issues.CountAsync(Ct)));
        Assert.Equal(1, await QueryAsync(app, db => db.DigestRuns.CountAsync(Ct)));
        Assert.Equal(2, await QueryAsync(app, db => db.DigestRunNotes.CountAsync(Ct)));
    }

    [Fact]
    public async Task ATopicDigestTakesOnlyNotesWithItsTagAndFullTextIsSanitised()
    {
        using var app = NewApp();
        var digest = await AddDigestAsync(app, Weekly("Sending", topic: "Sending", fullText: true));
        var onTopic = await AddNoteAsync(app, "Leases", "Claim with a lease.<script>alert(1)</script>", tags: "sending, ops");
        var offTopic = await AddNoteAsync(app, "Gardening", tags: "garden");

        var result = await RunAtAsync(app, digest.Id, await NextRunAsync(app, digest.Id));

        Assert.Equal(DigestRunOutcome.Drafted, result.Outcome);
        var issue = await QueryAsync(app, db => db.Issues.Include(i => i.Tags).AsNoTracking().SingleAsync(Ct));
        Assert.Contains("Claim with a lease.", issue.Html, StringComparison.Ordinal);
        Assert.Contains(onTopic.Slug, issue.Html, StringComparison.Ordinal);
        Assert.DoesNotContain(offTopic.Slug, issue.Html, StringComparison.Ordinal);
        Assert.DoesNotContain("<script", issue.Html, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(["sending"], issue.Tags.Select(t => t.Tag));
    }

    [Fact]
    public async Task AnEveryTwoNotesDigestDraftsWhenTwoAreWaitingAndNotBefore()
    {
        using var app = NewApp();
        var digest = await AddDigestAsync(app, new DigestInput { Name = "Every two", Cadence = DigestCadence.EveryNNotes, NoteCount = 2 });
        var first = await AddNoteAsync(app, "First");
        Assert.Equal(DigestRunOutcome.NotDue, (await RunAtAsync(app, digest.Id, DateTime.UtcNow)).Outcome);

        var second = await AddNoteAsync(app, "Second");
        var third = await AddNoteAsync(app, "Third");
        Assert.Equal(DigestRunOutcome.Drafted, (await RunAtAsync(app, digest.Id, DateTime.UtcNow)).Outcome);
        // The oldest two went; the third waits for a partner.
        Assert.Equal(DigestRunOutcome.NotDue, (await RunAtAsync(app, digest.Id, DateTime.UtcNow)).Outcome);
        var html = await QueryAsync(app, db => db.Issues.Select(i => i.Html).SingleAsync(Ct));
        Assert.Contains(first.Slug, html, StringComparison.Ordinal);
        Assert.Contains(second.Slug, html, StringComparison.Ordinal);
        Assert.DoesNotContain(third.Slug, html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ASkippedRunDraftsNothingAndItsNotesGoInTheNextOne()
    {
        using var app = NewApp();
        var digest = await AddDigestAsync(app, Weekly());
        var note = await AddNoteAsync(app, "Waits a week");
        var monday = await NextRunAsync(app, digest.Id);
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var skipped = await scope.ServiceProvider.GetRequiredService<DigestEditor>().SkipNextAsync(digest.Id, Ct);
            Assert.Equal(monday, skipped);
        }

        // The page says so before it happens.
        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(client);
        var page = await client.GetStringAsync("/admin/digests", Ct);
        Assert.Contains("is skipped; then", page, StringComparison.Ordinal);
        Assert.Contains("Don't skip", page, StringComparison.Ordinal);

        Assert.Equal(DigestRunOutcome.Skipped, (await RunAtAsync(app, digest.Id, monday)).Outcome);
        Assert.Equal(DigestRunOutcome.Skipped, (await RunAtAsync(app, digest.Id, monday.AddMinutes(5))).Outcome);
        Assert.Equal(0, await QueryAsync(app, db => db.Issues.CountAsync(Ct)));

        Assert.Equal(DigestRunOutcome.Drafted, (await RunAtAsync(app, digest.Id, monday.AddDays(7))).Outcome);
        Assert.Contains(note.Slug, await QueryAsync(app, db => db.Issues.Select(i => i.Html).SingleAsync(Ct)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task APausedDigestDraftsNothingUntilResumed()
    {
        using var app = NewApp();
        var digest = await AddDigestAsync(app, Weekly());
        await AddNoteAsync(app, "Held back");
        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(client);
        var pause = await Forms.PostAsync(client, "/admin/digests", new Dictionary<string, string>(), $"/admin/digests?handler=Pause&id={digest.Id}");
        Assert.Equal(System.Net.HttpStatusCode.Redirect, pause.StatusCode);
        Assert.Contains("Paused", await client.GetStringAsync("/admin/digests", Ct), StringComparison.Ordinal);
        var monday = await NextRunAsync(app, digest.Id);

        Assert.Equal(DigestRunOutcome.Paused, (await RunAtAsync(app, digest.Id, monday)).Outcome);
        await Forms.PostAsync(client, "/admin/digests", new Dictionary<string, string>(), $"/admin/digests?handler=Resume&id={digest.Id}");
        Assert.Equal(DigestRunOutcome.Drafted, (await RunAtAsync(app, digest.Id, monday.AddDays(7))).Outcome);
    }
}
