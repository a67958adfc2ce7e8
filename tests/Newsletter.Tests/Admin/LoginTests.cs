using System.Net;
using System.Text.RegularExpressions;
using Newsletter.Testing;
using static Newsletter.Tests.Admin.AuthorTestClients;

namespace Newsletter.Tests.Admin;

public partial class LoginTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AnUnknownAddressGetsTheSameAnswerAsAWrongPasswordEvenAfterManyFailures()
    {
        using var app = new NewsletterApp();
        using var proxied = BehindLocalProxy(app);
        await Forms.SetUpOwnerAsync(BrowserAt(proxied, "198.51.100.1"), "owner@example.org", Password);

        // Past the old account lockout (five failures), which answered "locked" for real accounts only.
        HttpResponseMessage? known = null, unknown = null;
        for (var i = 0; i < 6; i++)
        {
            known = await SignInAsync(BrowserAt(proxied, "203.0.113.1"), "owner@example.org", "a wrong guess " + i);
            unknown = await SignInAsync(BrowserAt(proxied, "203.0.113.2"), "nobody@example.org", "a wrong guess " + i);
            Assert.Equal(known.StatusCode, unknown.StatusCode);
        }

        Assert.Equal(HttpStatusCode.OK, known!.StatusCode);
        var knownText = Text(await known.Content.ReadAsStringAsync(Ct)).Replace("owner@example.org", "ADDRESS", StringComparison.Ordinal);
        var unknownText = Text(await unknown!.Content.ReadAsStringAsync(Ct)).Replace("nobody@example.org", "ADDRESS", StringComparison.Ordinal);
        Assert.Equal(knownText, unknownText);
        Assert.DoesNotContain("locked", knownText, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task OneClientGuessingFastIsStoppedWith429()
    {
        using var app = new NewsletterApp();
        using var proxied = BehindLocalProxy(app);
        await Forms.SetUpOwnerAsync(BrowserAt(proxied, "198.51.100.1"), "owner@example.org", Password);

        var codes = new List<HttpStatusCode>();
        for (var i = 0; i < 25; i++)
        {
            codes.Add((await SignInAsync(BrowserAt(proxied, "203.0.113.9"), $"guess{i}@example.org", "a wrong guess")).StatusCode);
        }

        // Ten a minute; 25 tries span at most two windows, so whatever the clock, some are refused.
        Assert.Equal(HttpStatusCode.OK, codes[0]);
        Assert.Contains(HttpStatusCode.TooManyRequests, codes);
        Assert.True(codes.Count(c => c == HttpStatusCode.OK) <= 20, string.Join(",", codes));
        // Another client is not held back by the first one's guessing.
        Assert.Equal(HttpStatusCode.Redirect, (await SignInAsync(BrowserAt(proxied, "198.51.100.1"), "owner@example.org", Password)).StatusCode);
    }

    [Fact]
    public async Task FailingOnPurposeCannotKeepTheOwnerOut()
    {
        using var app = new NewsletterApp();
        using var proxied = BehindLocalProxy(app);
        await Forms.SetUpOwnerAsync(BrowserAt(proxied, "198.51.100.1"), "owner@example.org", Password);

        for (var i = 0; i < 8; i++)
        {
            await SignInAsync(BrowserAt(proxied, "203.0.113.1"), "owner@example.org", "a wrong guess " + i);
        }

        // The attacker's address is now refused even the right password, with the same words as a wrong one...
        var attacker = await SignInAsync(BrowserAt(proxied, "203.0.113.1"), "owner@example.org", Password);
        Assert.Equal(HttpStatusCode.OK, attacker.StatusCode);
        Assert.Contains("don&#x27;t match an account", await attacker.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);

        // ...while the owner, from anywhere else, signs in.
        var owner = BrowserAt(proxied, "198.51.100.1");
        Assert.Equal(HttpStatusCode.Redirect, (await SignInAsync(owner, "owner@example.org", Password)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await owner.GetAsync("/admin", Ct)).StatusCode);
    }

    // The page differs only in its antiforgery token.
    private static string Text(string html) => AntiforgeryToken().Replace(html, "");

    [GeneratedRegex("name=\"__RequestVerificationToken\" type=\"hidden\" value=\"[^\"]+\"")]
    private static partial Regex AntiforgeryToken();
}
