using System.Net;
using System.Net.Http.Json;
using Newsletter.Testing;

namespace Newsletter.Tests.Subscribers;

/// <summary>What the public subscribe form refuses, and that its page says only what the app chose to say.</summary>
public class PublicFormTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("root@localhost")]
    [InlineData("admin@printer.internal")]
    [InlineData("me@nas.local")]
    public async Task AnAddressOnAPrivateDomainIsRefusedWithAClearError(string email)
    {
        using var app = new NewsletterApp();
        var json = await app.CreateClient().PostAsJsonAsync("/subscribe", new { email }, Ct);
        Assert.Equal(HttpStatusCode.BadRequest, json.StatusCode);

        var browser = app.CreateBrowserClient();
        var form = await browser.PostAsync("/subscribe", new FormUrlEncodedContent(new Dictionary<string, string> { ["email"] = email }), Ct);
        Assert.Equal("/subscribe/check-your-inbox", form.Headers.Location!.OriginalString);
        var page = await browser.GetStringAsync("/subscribe/check-your-inbox", Ct);
        Assert.Contains("That address doesn", page, StringComparison.Ordinal);
        Assert.Contains("can't receive mail from the internet", WebUtility.HtmlDecode(page), StringComparison.Ordinal);
        Assert.Null(await SubscribeTests.FindAsync(app, email));
    }

    [Fact]
    public async Task TheCheckYourInboxPageNeverShowsTextFromTheLink()
    {
        using var app = new NewsletterApp();
        var page = await app.CreateClient().GetStringAsync("/subscribe/check-your-inbox?error=" + Uri.EscapeDataString("Your account is locked. Call +1 555 0100 now"), Ct);

        Assert.DoesNotContain("Call +1 555 0100", WebUtility.HtmlDecode(page), StringComparison.Ordinal);
        Assert.Contains("Check your inbox", page, StringComparison.Ordinal);
    }
}
