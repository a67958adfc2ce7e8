namespace Newsletter.Web.Digests;

/// <summary>
/// When a calendar digest runs, in the author's zone: the latest occurrence at or before a moment (the period a
/// run belongs to, the same on every node and on every retry) and the next one (shown on the digests page).
/// </summary>
public static class DigestCalendar
{
    /// <summary>How early a run may belong to an occurrence: nodes' clocks and Hangfire's timer are not to the second.</summary>
    public static readonly TimeSpan Margin = TimeSpan.FromMinutes(1);

    /// <summary>The latest occurrence at or before <paramref name="utc"/>, in UTC; null for an every-N-notes digest.</summary>
    public static DateTime? Latest(Digest d, DateTime utc, TimeZoneInfo zone)
    {
        var local = TimeZoneInfo.ConvertTimeFromUtc(DateTime.SpecifyKind(utc, DateTimeKind.Utc), zone);
        DateTime candidate;
        switch (d.Cadence)
        {
            case DigestCadence.Weekly:
                candidate = local.Date.AddDays(-(((int)local.DayOfWeek - (int)d.Weekday + 7) % 7)).AddHours(d.Hour);
                if (candidate > local)
                {
                    candidate = candidate.AddDays(-7);
                }

                break;
            case DigestCadence.Monthly:
                candidate = new DateTime(local.Year, local.Month, d.DayOfMonth, d.Hour, 0, 0, DateTimeKind.Unspecified);
                if (candidate > local)
                {
                    candidate = candidate.AddMonths(-1);
                }

                break;
            default:
                return null;
        }

        return ToUtc(candidate, zone);
    }

    /// <summary>The first occurrence after <paramref name="utc"/>, in UTC; null for an every-N-notes digest.</summary>
    public static DateTime? Next(Digest d, DateTime utc, TimeZoneInfo zone)
    {
        if (Latest(d, utc, zone) is not { } latest)
        {
            return null;
        }

        var local = TimeZoneInfo.ConvertTimeFromUtc(latest, zone);
        var next = d.Cadence == DigestCadence.Weekly ? local.AddDays(7) : local.AddMonths(1);
        return ToUtc(new DateTime(next.Year, next.Month, next.Day, d.Hour, 0, 0, DateTimeKind.Unspecified), zone);
    }

    /// <summary>The period key of an occurrence: its local date, the same whatever node or retry computes it.</summary>
    public static string PeriodOf(DateTime occurrenceUtc, TimeZoneInfo zone) =>
        TimeZoneInfo.ConvertTimeFromUtc(occurrenceUtc, zone).ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Hangfire's cron for the digest (read in Site:TimeZone); an every-N-notes digest counts every five minutes.</summary>
    public static string Cron(Digest d) => d.Cadence switch
    {
        DigestCadence.Weekly => $"0 {d.Hour} * * {(int)d.Weekday}",
        DigestCadence.Monthly => $"0 {d.Hour} {d.DayOfMonth} * *",
        _ => "*/5 * * * *",
    };

    // An hour the clocks skip (a spring-forward gap) happens an hour later, as cron does.
    private static DateTime ToUtc(DateTime local, TimeZoneInfo zone)
    {
        var unspecified = DateTime.SpecifyKind(local, DateTimeKind.Unspecified);
        while (zone.IsInvalidTime(unspecified))
        {
            unspecified = unspecified.AddHours(1);
        }

        return TimeZoneInfo.ConvertTimeToUtc(unspecified, zone);
    }
}
