using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;
using Newsletter.Web.Infrastructure;
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
        Assert.Matches("^m2[A-Za-z0-9_-]{22}$", token);
        Assert.Equal(123_456, tokens.ReadManage(token));
        Assert.NotEqual(token, tokens.Manage(123_457));
        for (var i = 2; i < token.Length; i++)
        {
            var forged = token[..i] + (token[i] == 'A' ? 'B' : 'A') + token[(i + 1)..];
            Assert.Null(tokens.ReadManage(forged));
        }

        // The last character carries 2 bits and 4 spare ones: no other spelling of it may pass for the token.
        foreach (var c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".Where(c => c != token[^1]))
        {
            Assert.Null(tokens.ReadManage(token[..^1] + c));
        }

        Assert.Null(tokens.ReadManage(token[..^1]));
        Assert.Null(tokens.ReadManage(token + "A"));
        Assert.Null(tokens.ReadManage("m1" + new string('A', 32)));
        Assert.Null(tokens.ReadManage("m2" + new string('A', 22)));
        Assert.Null(tokens.ReadManage("m2" + new string('=', 22)));
    }

    [Fact]
    public void AReadersLinkDoesNotSayHowManySignedUpBeforeThem()
    {
        using var app = new NewsletterApp();
        var tokens = app.Services.GetRequiredService<SubscriberTokens>();

        // Readers 1 to 500 had links starting "m1AAAAAAAAA": the id in the clear. Now no part of one link tells
        // it from another's: each position after the prefix takes most of the 64 characters.
        var links = Enumerable.Range(1, 500).Select(id => tokens.Manage(id)).ToList();
        for (var position = 2; position < links[0].Length - 1; position++)
        {
            var distinct = links.Select(l => l[position]).Distinct().Count();
            Assert.True(distinct > 50, $"character {position} took only {distinct} values");
        }

        Assert.Equal(Enumerable.Range(1, 500).Select(id => (long?)id), links.Select(tokens.ReadManage));
    }

    [Fact]
    public void LinksOfTheFormBeforeStillWork()
    {
        using var app = new NewsletterApp();
        var tokens = app.Services.GetRequiredService<SubscriberTokens>();

        // "m1": the id and the first 16 bytes of its HMAC under the installation's "links" key, in every issue
        // sent before ids were sealed.
        var m1 = OldLink(app, 42);
        Assert.Equal(42, tokens.ReadManage(m1));
        Assert.Null(tokens.ReadManage(m1[..^1] + (m1[^1] == 'A' ? 'B' : 'A')));
        using var elsewhere = new NewsletterApp();
        Assert.Null(elsewhere.Services.GetRequiredService<SubscriberTokens>().ReadManage(m1));
    }

    private static string OldLink(NewsletterApp app, long id)
    {
        var bytes = new byte[24];
        System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(bytes, id);
        System.Security.Cryptography.HMACSHA256.HashData(app.Services.GetRequiredService<InstallationKeys>().Get("links"), bytes.AsSpan(0, 8)).AsSpan(0, 16).CopyTo(bytes.AsSpan(8));
        return "m1" + Microsoft.AspNetCore.WebUtilities.WebEncoders.Base64UrlEncode(bytes);
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
