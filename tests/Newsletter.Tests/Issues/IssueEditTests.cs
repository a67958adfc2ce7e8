using System.Globalization;
using System.Net;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;
using Newsletter.Web.Data;
using Newsletter.Web.Issues;

namespace Newsletter.Tests.Issues;

public class IssueEditTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task SavingAnIssueWithANoteThatDoesNotExistIsAValidationError()
    {
        using var app = new NewsletterApp();
        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(client);
        var created = await Forms.PostAsync(client, "/admin/issues", new Dictionary<string, string>(), "/admin/issues?handler=New");
        var editUrl = created.Headers.Location!.OriginalString;

        var saved = await Forms.PostAsync(client, editUrl, new Dictionary<string, string>
        {
            ["subject"] = "Issue one",
            ["markdown"] = "Body",
            ["notes"] = "987654",
            ["channel"] = "both",
        }, editUrl + "?handler=Save");

        Assert.Equal(HttpStatusCode.OK, saved.StatusCode);
        Assert.Contains("A chosen note no longer exists", WebUtility.HtmlDecode(await saved.Content.ReadAsStringAsync(Ct)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnEmptyDraftCanBePreviewed()
    {
        using var app = new NewsletterApp();
        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(client);
        var created = await Forms.PostAsync(client, "/admin/issues", new Dictionary<string, string>(), "/admin/issues?handler=New");
        var id = created.Headers.Location!.OriginalString.TrimEnd('/').Split('/')[^1];

        var page = await client.GetAsync($"/admin/issues/{id}/preview", Ct);
        var email = await client.GetAsync($"/admin/preview/issues/{id}/email.html", Ct);

        Assert.True(page.StatusCode == HttpStatusCode.OK, $"page {(int)page.StatusCode}{Environment.NewLine}{app.ServerLog}");
        Assert.True(email.StatusCode == HttpStatusCode.OK, $"email {(int)email.StatusCode}{Environment.NewLine}{app.ServerLog}");
        Assert.Contains("Nothing to preview yet", await page.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }

    /// <summary>Two issues called "Weekly notes" are ordinary: the second one's address is made free, not refused; one the author typed is refused.</summary>
    [Fact]
    public async Task ASubjectUsedBeforeGetsTheNextFreeSlugAndKeepsIt()
    {
        using var app = new NewsletterApp();
        await using var scope = app.Services.CreateAsyncScope();
        var editor = scope.ServiceProvider.GetRequiredService<IssueEditor>();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        async Task<(IssueEditResult Result, string Slug)> SaveAsync(int id, string? slug)
        {
            var result = await editor.SaveAsync(id, new IssueDraft("Weekly notes", null, slug, "Body", null, null, null, IssueChannel.Both), Ct);
            db.ChangeTracker.Clear();
            return (result, (await db.Issues.SingleAsync(i => i.Id == id, Ct)).Slug);
        }

        var first = (await editor.CreateAsync(Ct)).Id;
        var second = (await editor.CreateAsync(Ct)).Id;
        var third = (await editor.CreateAsync(Ct)).Id;
        Assert.Equal("weekly-notes", (await SaveAsync(first, null)).Slug);
        Assert.Equal("weekly-notes-2", (await SaveAsync(second, null)).Slug);
        // Saved again, it keeps its number instead of taking another.
        Assert.Equal("weekly-notes-2", (await SaveAsync(second, "")).Slug);
        Assert.Equal("weekly-notes-3", (await SaveAsync(third, null)).Slug);
        // The first keeps its own; a slug typed by the author is refused when taken, not renumbered.
        Assert.Equal("weekly-notes", (await SaveAsync(first, null)).Slug);
        var typed = await SaveAsync(third, "weekly-notes");
        Assert.Equal(IssueEditOutcome.Invalid, typed.Result.Outcome);
        Assert.Contains("already uses the slug 'weekly-notes'", typed.Result.Errors["slug"][0], StringComparison.Ordinal);
        Assert.Equal("weekly-notes-3", typed.Slug);
    }

    /// <summary>02:30 on the night Berlin's clocks go forward does not exist: the author is told, not shown a 500, and nothing is scheduled.</summary>
    [Fact]
    public async Task ATimeTheClocksSkipIsRefusedWithASentence()
    {
        var skipped = NextNightAt230(zone => zone.IsInvalidTime);
        var (page, issue) = await ScheduleInBerlinAsync(skipped);
        Assert.Contains($"{skipped.ToString("d MMM yyyy", CultureInfo.InvariantCulture)}, 02:30 does not exist in Europe/Berlin: the clocks go forward then", page, StringComparison.Ordinal);
        Assert.Equal((IssueStatus.Draft, (DateTime?)null), (issue.Status, issue.ScheduledAt));
    }

    /// <summary>
    /// 02:30 on the night Berlin's clocks go back happens twice: the issue is scheduled for the first (00:30 UTC, not
    /// .NET's choice of the second), and the author is told which, since "02:30" on the page reads the same for both.
    /// </summary>
    [Fact]
    public async Task ATimeTheClocksRepeatIsScheduledForTheFirstAndTheAuthorIsToldSo()
    {
        var repeated = NextNightAt230(zone => zone.IsAmbiguousTime);
        var (page, issue) = await ScheduleInBerlinAsync(repeated);
        Assert.Contains($"{repeated.ToString("d MMM yyyy", CultureInfo.InvariantCulture)}, 02:30 happens twice in Europe/Berlin, as the clocks go back: the issue goes out at the first of the two, 00:30 UTC.", page, StringComparison.Ordinal);
        Assert.Equal(IssueStatus.Scheduled, issue.Status);
        Assert.Equal(repeated.Date.AddMinutes(30), issue.ScheduledAt);
    }

    /// <summary>Schedules a new issue for <paramref name="local"/> through the form, on a site in Europe/Berlin: the page the author is sent to, and the issue.</summary>
    private static async Task<(string Page, Issue Issue)> ScheduleInBerlinAsync(DateTime local)
    {
        using var app = new NewsletterApp(new() { ["Site:TimeZone"] = "Europe/Berlin" });
        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(client);
        var issueId = await Newsletter.Tests.Sending.SendingFixture.AddIssueAsync(app);
        var editUrl = $"/admin/issues/{issueId}";
        var response = await Forms.PostAsync(client, editUrl, new Dictionary<string, string> { ["at"] = local.ToString("yyyy-MM-ddTHH:mm", CultureInfo.InvariantCulture) }, editUrl + "?handler=Schedule");
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        var page = WebUtility.HtmlDecode(await client.GetStringAsync(response.Headers.Location!.OriginalString, Ct));
        await using var scope = app.Services.CreateAsyncScope();
        return (page, await scope.ServiceProvider.GetRequiredService<AppDbContext>().Issues.AsNoTracking().SingleAsync(i => i.Id == issueId, Ct));
    }

    /// <summary>02:30 on the next night, at least a day from now, on which Berlin's clocks make <paramref name="odd"/> true of it.</summary>
    private static DateTime NextNightAt230(Func<TimeZoneInfo, Func<DateTime, bool>> odd)
    {
        var zone = TimeZoneInfo.FindSystemTimeZoneById("Europe/Berlin");
        var night = DateTime.SpecifyKind(DateTime.UtcNow.Date.AddDays(2).AddHours(2.5), DateTimeKind.Unspecified);
        while (!odd(zone)(night))
        {
            night = night.AddDays(1);
        }

        return night;
    }

    /// <summary>
    /// A time years ahead is a typo (2062 for 2026), not a plan: the form and the API say so and schedule nothing,
    /// where the year 9999 was taken and the issue would have waited for ever.
    /// </summary>
    [Fact]
    public async Task ATimeMoreThanAYearAheadIsRefusedAsALikelyTypo()
    {
        using var app = new NewsletterApp();
        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(client);
        var issueId = await Newsletter.Tests.Sending.SendingFixture.AddIssueAsync(app);
        var editUrl = $"/admin/issues/{issueId}";
        var years = DateTime.UtcNow.AddYears(36).ToString("yyyy-MM-ddTHH:mm", CultureInfo.InvariantCulture);

        var response = await Forms.PostAsync(client, editUrl, new Dictionary<string, string> { ["at"] = years }, editUrl + "?handler=Schedule");
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        var page = WebUtility.HtmlDecode(await client.GetStringAsync(response.Headers.Location!.OriginalString, Ct));
        Assert.Contains("more than a year from now: check the year", page, StringComparison.Ordinal);

        var api = await Api.ApiClients.ClientAsync(app);
        foreach (var at in new[] { "9999-12-31T00:00:00Z", DateTime.UtcNow.AddDays(400).ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture) })
        {
            var refused = await api.PostAsync($"/api/v1/issues/{issueId}/schedule", new StringContent($$"""{"at":"{{at}}"}""", System.Text.Encoding.UTF8, "application/json"), Ct);
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
            Assert.Contains("check the year", await refused.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        }

        await using (var scope = app.Services.CreateAsyncScope())
        {
            var issue = await scope.ServiceProvider.GetRequiredService<AppDbContext>().Issues.AsNoTracking().SingleAsync(i => i.Id == issueId, Ct);
            Assert.Equal((IssueStatus.Draft, (DateTime?)null), (issue.Status, issue.ScheduledAt));
        }

        // Eleven months ahead is a plan, and is kept.
        var plan = await api.PostAsync($"/api/v1/issues/{issueId}/schedule", new StringContent($$"""{"at":"{{DateTime.UtcNow.AddDays(330):yyyy-MM-ddTHH:mm:ssZ}}"}""", System.Text.Encoding.UTF8, "application/json"), Ct);
        Assert.Equal(HttpStatusCode.Accepted, plan.StatusCode);
    }

    /// <summary>The status line after an action is the app's own, shown once: a link's ?message= puts nobody's words in the admin.</summary>
    [Fact]
    public async Task TheStatusLineAfterAnActionIsShownOnceAndNeverTakenFromTheAddress()
    {
        using var app = new NewsletterApp();
        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(client);
        var issueId = await Newsletter.Tests.Sending.SendingFixture.AddIssueAsync(app);
        var editUrl = $"/admin/issues/{issueId}";
        foreach (var url in new[] { editUrl, $"{editUrl}/preview", $"{editUrl}/progress", "/admin/issues", "/admin/notes", "/admin/subscribers" })
        {
            var page = await client.GetStringAsync($"{url}{(url.Contains('?') ? '&' : '?')}message=Your%20account%20was%20hacked%2C%20call%20555", Ct);
            Assert.DoesNotContain("account was hacked", page, StringComparison.Ordinal);
        }

        var saved = await Forms.PostAsync(client, editUrl, new Dictionary<string, string> { ["subject"] = "Saved once", ["markdown"] = "Body", ["channel"] = "both" }, editUrl + "?handler=Save");
        Assert.Equal(editUrl, saved.Headers.Location!.OriginalString);
        Assert.Contains("role=\"status\">Saved.</p>", await client.GetStringAsync(editUrl, Ct), StringComparison.Ordinal);
        Assert.DoesNotContain("role=\"status\">Saved.</p>", await client.GetStringAsync(editUrl, Ct), StringComparison.Ordinal);
    }
}
