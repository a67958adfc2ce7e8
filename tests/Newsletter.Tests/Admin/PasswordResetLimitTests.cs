using System.Net;
using Newsletter.Testing;
using Newsletter.Tests.Subscribers;

namespace Newsletter.Tests.Admin;

public class PasswordResetLimitTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ResetMailsToOneAddressAreLimitedAndTheAnswerNeverChanges()
    {
        // The hourly cap alone, not the window that makes a double click one request.
        using var app = new NewsletterApp(new() { ["Subscriptions:RepeatedRequestWindow"] = "00:00:00" });
        await Forms.SetUpOwnerAsync(app.CreateBrowserClient(), "owner@example.org");

        var pages = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            var response = await Forms.PostAsync(app.CreateBrowserClient(), "/admin/forgot-password", new Dictionary<string, string> { ["Email"] = "Owner@Example.org" });
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            pages.Add(await response.Content.ReadAsStringAsync(Ct));
        }

        // Limited or not, the page is the same; three links in the hour, not five.
        Assert.All(pages, p => Assert.Equal(pages[0], p));
        await app.WaitForMailAsync("owner@example.org", count: 3);
        await SubscribeTests.WaitForIdleJobsAsync(app);
        Assert.Equal(3, Outbox.Read(app.PickupFolder).Count);
    }
}
