using System.Net;
using System.Net.Http.Json;
using Newsletter.Testing;

namespace Newsletter.Tests.Subscribers;

/// <summary>The subscribe limits on two app instances that share one database, as two nodes behind one proxy.</summary>
public class SubscribeAcrossNodesTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ThePerClientLimitHoldsForTwoNodesTogether()
    {
        Dictionary<string, string?> settings = new() { ["Subscriptions:PerIpPerMinute"] = "3" };
        using var nodeA = new NewsletterApp(settings);
        using var nodeB = new NewsletterApp(nodeA.SecondNode(settings));
        var clients = new[] { nodeA.CreateClient(), nodeB.CreateClient() };

        // A round runs within one minute's window; if a stalled machine stretches it past the minute's end, it runs
        // again in the minute after next, since the requests after the boundary took permits of the next one.
        await RateWindows.FreshMinuteAsync(Ct);
        while (true)
        {
            var minute = RateWindows.MinuteOf(DateTime.UtcNow);
            var codes = new List<HttpStatusCode>();
            var answers = new List<string>();
            for (var i = 0; i < 8; i++)
            {
                var response = await clients[i % 2].PostAsJsonAsync("/subscribe", new { email = $"r{Guid.NewGuid():N}@example.org" }, Ct);
                codes.Add(response.StatusCode);
                answers.Add($"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync(Ct)}");
            }

            if (RateWindows.MinuteOf(DateTime.UtcNow) != minute)
            {
                await RateWindows.FreshMinuteAsync(Ct, secondsNeeded: 61);
                continue;
            }

            Assert.True(codes.Count(c => c == HttpStatusCode.Accepted) == 3, "Answers: " + string.Join(" | ", answers));
            Assert.Equal(5, codes.Count(c => c == HttpStatusCode.TooManyRequests));
            return;
        }
    }

    [Fact]
    public async Task ThePerAddressLimitHoldsForTwoNodesTogetherBehindTheSameAnswer()
    {
        Dictionary<string, string?> settings = new()
        {
            ["Subscriptions:PerAddressPerHour"] = "2",
            ["Subscriptions:PerIpPerMinute"] = "100",
            // Every subscribe that passes the limit mails a confirmation, so the mails count the passes.
            ["Subscriptions:ResendConfirmationInterval"] = "00:00:00",
        };
        using var nodeA = new NewsletterApp(settings);
        using var nodeB = new NewsletterApp(nodeA.SecondNode(settings));
        var clients = new[] { nodeA.CreateClient(), nodeB.CreateClient() };

        var answers = new List<(HttpStatusCode Code, string Body)>();
        for (var i = 0; i < 6; i++)
        {
            var response = await clients[i % 2].PostAsJsonAsync("/subscribe", new { email = "reader@example.org" }, Ct);
            answers.Add((response.StatusCode, await response.Content.ReadAsStringAsync(Ct)));
        }

        // Limited or not, every answer is the same: nobody learns whether the address is known.
        Assert.All(answers, a => Assert.Equal(answers[0], a));
        Assert.Equal(HttpStatusCode.Accepted, answers[0].Code);

        await nodeA.WaitForMailAsync("reader@example.org", count: 2);
        await SubscribeTests.WaitForIdleJobsAsync(nodeA);
        Assert.Equal(2, Outbox.Read(nodeA.PickupFolder).Count);
    }
}
