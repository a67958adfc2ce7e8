using Hangfire;
using Hangfire.Storage;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;
using Newsletter.Web.Digests;
using static Newsletter.Tests.Digests.DigestFixture;

namespace Newsletter.Tests.Digests;

public class DigestScheduleTests
{
    [Fact]
    public async Task EachDigestHasOneRecurringJobInTheAuthorsZoneReplacedOnEditAndRemovedOnDelete()
    {
        using var app = new NewsletterApp(new() { ["Site:TimeZone"] = Zone });
        var digest = await AddDigestAsync(app, Weekly());
        Assert.Equal("0 9 * * 1", Job(app, digest.Id)?.Cron);
        Assert.Equal(Zone, Job(app, digest.Id)?.TimeZoneId);

        await using (var scope = app.Services.CreateAsyncScope())
        {
            var editor = scope.ServiceProvider.GetRequiredService<DigestEditor>();
            var input = Weekly();
            input.Cadence = DigestCadence.Monthly;
            input.DayOfMonth = 15;
            input.Hour = 7;
            Assert.True((await editor.SaveAsync(digest.Id, input, Ct)).Saved);
            Assert.Equal("0 7 15 * *", Job(app, digest.Id)?.Cron);
            Assert.Single(Jobs(app), j => j.Id.StartsWith("digest:", StringComparison.Ordinal));

            Assert.True(await editor.DeleteAsync(digest.Id, Ct));
        }

        Assert.Null(Job(app, digest.Id));
    }

    [Fact]
    public void TheNextRunIsAtTheAuthorsHourOnTheChosenDayAcrossASummerTimeChange()
    {
        var zone = TimeZoneInfo.FindSystemTimeZoneById(Zone);
        var weekly = new Digest { Cadence = DigestCadence.Weekly, Weekday = DayOfWeek.Monday, Hour = 9 };
        // Friday 27 March 2026, noon UTC; the clocks go forward on Sunday 29 March.
        var friday = new DateTime(2026, 3, 27, 12, 0, 0, DateTimeKind.Utc);
        Assert.Equal(new DateTime(2026, 3, 23, 8, 0, 0, DateTimeKind.Utc), DigestCalendar.Latest(weekly, friday, zone));
        Assert.Equal(new DateTime(2026, 3, 30, 7, 0, 0, DateTimeKind.Utc), DigestCalendar.Next(weekly, friday, zone));

        var monthly = new Digest { Cadence = DigestCadence.Monthly, DayOfMonth = 1, Hour = 0 };
        Assert.Equal(new DateTime(2026, 3, 31, 22, 0, 0, DateTimeKind.Utc), DigestCalendar.Next(monthly, friday, zone));
        Assert.Equal("2026-04-01", DigestCalendar.PeriodOf(new DateTime(2026, 3, 31, 22, 0, 0, DateTimeKind.Utc), zone));
        Assert.Null(DigestCalendar.Next(new Digest { Cadence = DigestCadence.EveryNNotes }, friday, zone));
    }

    private static List<RecurringJobDto> Jobs(NewsletterApp app)
    {
        using var connection = app.Services.GetRequiredService<JobStorage>().GetConnection();
        return connection.GetRecurringJobs();
    }

    private static RecurringJobDto? Job(NewsletterApp app, int digestId) => Jobs(app).FirstOrDefault(j => j.Id == Digest.RecurringJobIdOf(digestId));
}
