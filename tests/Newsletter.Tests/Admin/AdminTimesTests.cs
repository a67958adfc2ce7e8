using System.Globalization;
using System.Net;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;
using Newsletter.Web.Data;

namespace Newsletter.Tests.Admin;

/// <summary>
/// Every admin page gives a stored time in the author's zone, named: a reader's history, the outbox and the import
/// list used to show UTC beside schedules in the site's zone, so a writer in Auckland read a sign-up as the day before.
/// </summary>
public class AdminTimesTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AReadersHistoryAndTheOutboxShowTimesInTheSitesZone()
    {
        // Auckland is 12 or 13 hours ahead: a UTC time and the local one differ in the hour, usually the day too.
        const string zoneId = "Pacific/Auckland";
        using var app = new NewsletterApp(new() { ["Site:TimeZone"] = zoneId });
        var author = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(author);
        var added = await Forms.PostAsync(author, "/admin/subscribers/new",
            new Dictionary<string, string> { ["email"] = "kiwi@example.org", ["mode"] = "confirm", ["consent"] = "", ["name"] = "", ["tags"] = "" });
        Assert.Equal(HttpStatusCode.Redirect, added.StatusCode);
        await app.WaitForMailAsync("kiwi@example.org");

        DateTime created;
        await using (var scope = app.Services.CreateAsyncScope())
        {
            created = await scope.ServiceProvider.GetRequiredService<AppDbContext>().Subscribers.Where(s => s.Email == "kiwi@example.org").Select(s => s.CreatedAt).SingleAsync(Ct);
        }

        var zone = TimeZoneInfo.FindSystemTimeZoneById(zoneId);
        var local = TimeZoneInfo.ConvertTimeFromUtc(DateTime.SpecifyKind(created, DateTimeKind.Utc), zone);
        var detail = WebUtility.HtmlDecode(await author.GetStringAsync(added.Headers.Location!.OriginalString.Split('?')[0], Ct));
        Assert.Contains($"<dt>Created</dt><dd>{local.ToString("d MMM yyyy, HH:mm", CultureInfo.InvariantCulture)} {zoneId}</dd>", detail, StringComparison.Ordinal);
        Assert.Contains($"(times in {zoneId})", detail, StringComparison.Ordinal);
        Assert.DoesNotContain(" UTC", detail, StringComparison.Ordinal);

        // The confirmation in the outbox, listed and opened, at the local minute it was written (within a minute of the sign-up).
        var outbox = WebUtility.HtmlDecode(await author.GetStringAsync("/admin/outbox", Ct));
        Assert.Contains($"When ({zoneId})", outbox, StringComparison.Ordinal);
        var minutes = new[] { local, local.AddMinutes(1) }.Select(t => t.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture)).ToList();
        Assert.Contains(minutes, m => outbox.Contains(">" + m, StringComparison.Ordinal));
        Assert.DoesNotContain(created.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture), outbox, StringComparison.Ordinal);
    }
}
