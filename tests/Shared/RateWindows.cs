namespace Newsletter.Testing;

/// <summary>
/// The app's rate limits count in fixed windows aligned to the clock (a minute starts at :00). A test that
/// counts answers within one window must not straddle two: the requests after the boundary would be counted
/// afresh and the test would see more permits than the limit. Waiting out a minute's last seconds is cheaper
/// and surer than a fake clock, which would also stop Hangfire's.
/// </summary>
public static class RateWindows
{
    /// <summary>Returns when at least <paramref name="secondsNeeded"/> of the current minute are left, waiting for the next one if not.</summary>
    public static async Task FreshMinuteAsync(CancellationToken ct, int secondsNeeded = 40)
    {
        var now = DateTime.UtcNow;
        var left = TimeSpan.FromMinutes(1) - TimeSpan.FromTicks(now.Ticks % TimeSpan.TicksPerMinute);
        if (left < TimeSpan.FromSeconds(secondsNeeded))
        {
            await Task.Delay(left + TimeSpan.FromMilliseconds(50), ct);
        }
    }

    /// <summary>The minute a moment falls in, to check afterwards that a round stayed within one window.</summary>
    public static long MinuteOf(DateTime utc) => utc.Ticks / TimeSpan.TicksPerMinute;
}
