using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;
using Newsletter.Web.Subscribers;

namespace Newsletter.Tests.Subscribers;

public class ManageTokenTests
{
    [Fact]
    public void AManageTokenNamesItsReaderAndAnyChangedCharacterIsRefused()
    {
        using var app = new NewsletterApp();
        var tokens = app.Services.GetRequiredService<SubscriberTokens>();

        var token = tokens.Manage(123_456);
        Assert.Equal(123_456, tokens.ReadManage(token));
        Assert.NotEqual(token, tokens.Manage(123_457));
        for (var i = 2; i < token.Length; i++)
        {
            var forged = token[..i] + (token[i] == 'A' ? 'B' : 'A') + token[(i + 1)..];
            Assert.Null(tokens.ReadManage(forged));
        }

        Assert.Null(tokens.ReadManage(token[..^1]));
        Assert.Null(tokens.ReadManage("m1" + new string('A', 32)));
    }

    [Fact]
    public void ManageTokensFromAnotherInstallationAreRefusedAndOldDataProtectionTokensStillWork()
    {
        using var one = new NewsletterApp();
        using var two = new NewsletterApp();
        var token = one.Services.GetRequiredService<SubscriberTokens>().Manage(42);
        Assert.Null(two.Services.GetRequiredService<SubscriberTokens>().ReadManage(token));

        // Links in issues sent before manage tokens were HMACs: data protection made them, and they must keep working.
        var legacy = one.Services.GetRequiredService<IDataProtectionProvider>().CreateProtector("Newsletter.Subscribers.Manage.v1").Protect("42");
        Assert.Equal(42, one.Services.GetRequiredService<SubscriberTokens>().ReadManage(legacy));
    }
}
