using Newsletter.Testing;
using Newsletter.Web.Subscribers;

namespace Newsletter.Tests.Subscribers;

/// <summary>
/// A reader's name comes from whoever fills in a form and ends up in greetings and in the To header of every
/// email: it keeps its letters, but nothing that changes how the rest of it, or the header, reads.
/// </summary>
public class ReaderNameTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("Ann Lee", "Ann Lee")]
    [InlineData("Ann\r\nBcc: x@example.org", "Ann Bcc: x@example.org")]
    [InlineData("Ann \u202Egro.elpmaxe@yna", "Ann gro.elpmaxe@yna")]
    [InlineData("\u2067Ann\u2069 \u200BLee\uFEFF", "Ann Lee")]
    [InlineData("=?utf-8?B?QmNjOiBzcHlAZXZpbC5leGFtcGxl?=", "= ?utf-8?B?QmNjOiBzcHlAZXZpbC5leGFtcGxl?=")]
    [InlineData("\u200B\u202E", null)]
    [InlineData("\u0645\u06CC\u200C\u062E\u0648\u0627\u0647\u0645", "\u0645\u06CC\u200C\u062E\u0648\u0627\u0647\u0645")]
    [InlineData("Ann \U0001F469\u200D\U0001F4BB", "Ann \U0001F469\u200D\U0001F4BB")]
    public void ANameKeepsItsLettersButNothingThatChangesHowItReads(string typed, string? stored) =>
        Assert.Equal(stored, ReaderLifecycle.CleanName(typed));

    /// <summary>An encoded word typed as a name at sign-up reaches the reader's To header as the text it is, not as what it decodes to.</summary>
    [Fact]
    public async Task AnEncodedWordTypedAsANameIsNotDecodedInTheToHeader()
    {
        using var app = new NewsletterApp();
        var client = app.CreateBrowserClient();
        await client.PostAsync("/subscribe", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["email"] = "named@example.org",
            ["name"] = "=?utf-8?B?QmNjOiBzcHlAZXZpbC5leGFtcGxl?=",
        }), Ct);
        await SubscribeTests.ConfirmAsync(app, client, "named@example.org");
        var welcome = await app.WaitForMailAsync("named@example.org", m => m.Subject?.Contains("Welcome", StringComparison.OrdinalIgnoreCase) == true);

        var to = Assert.Single(welcome.To.Mailboxes);
        Assert.Equal("named@example.org", to.Address);
        Assert.DoesNotContain("Bcc", to.Name, StringComparison.Ordinal);
        Assert.Equal("= ?utf-8?B?QmNjOiBzcHlAZXZpbC5leGFtcGxl?=", to.Name);
    }
}
