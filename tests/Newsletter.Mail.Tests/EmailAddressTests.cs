using Newsletter.Mail;

namespace Newsletter.Mail.Tests;

public class EmailAddressTests
{
    [Theory]
    [InlineData("ann@example.org", "ann@example.org")]
    [InlineData("  ann@example.org\t", "ann@example.org")]
    [InlineData("Ann.Lee@Example.ORG", "Ann.Lee@example.org")]
    [InlineData("ann+newsletter@example.org", "ann+newsletter@example.org")]
    [InlineData("o'brien@example.co.uk", "o'brien@example.co.uk")]
    [InlineData("a!#$%&'*+-/=?^_`{|}~z@example.org", "a!#$%&'*+-/=?^_`{|}~z@example.org")]
    [InlineData("user@bücher.de", "user@bücher.de")]
    [InlineData("user@BÜCHER.de", "user@bücher.de")]
    [InlineData("user@xn--bcher-kva.de", "user@bücher.de")]
    [InlineData("notes@localhost", "notes@localhost")]
    [InlineData("x@sub-domain.example-site.org", "x@sub-domain.example-site.org")]
    [InlineData("1234@123.example", "1234@123.example")]
    public void AcceptsAndNormalisesValidAddresses(string input, string expected)
    {
        Assert.True(EmailAddress.TryNormalize(input, out var normalized, out var error), error);
        Assert.Equal(expected, normalized);
        Assert.Equal("", error);
    }

    [Theory]
    [InlineData("", "Enter an email address")]
    [InlineData("   ", "Enter an email address")]
    [InlineData("ann.example.org", "needs an @")]
    [InlineData("ann@@example.org", "exactly one @")]
    [InlineData("ann@bob@example.org", "exactly one @")]
    [InlineData("@example.org", "before the @ is missing")]
    [InlineData("ann@", "domain after the @ is missing")]
    [InlineData("ann lee@example.org", "spaces")]
    [InlineData("ann@exa mple.org", "spaces")]
    [InlineData("ann@example.org\r\nBcc: victim@example.org", "line breaks")]
    [InlineData("ann@example.org\n", "line breaks")]
    [InlineData("\"ann\"@example.org", "'\"'")]
    [InlineData("\"ann@x\"@example.org", "'\"'")]
    [InlineData("Ann <ann@example.org>", "spaces")]
    [InlineData("<ann@example.org>", "'<'")]
    [InlineData("ann(comment)@example.org", "'('")]
    [InlineData("ann@[192.168.1.1]", "'['")]
    [InlineData("ann@192.168.1.1", "not a valid domain")]
    [InlineData(".ann@example.org", "start or end with a dot")]
    [InlineData("ann.@example.org", "start or end with a dot")]
    [InlineData("ann..lee@example.org", "two dots in a row")]
    [InlineData("ann@.example.org", "start or end with a dot")]
    [InlineData("ann@example.org.", "start or end with a dot")]
    [InlineData("ann@example..org", "two dots in a row")]
    [InlineData("ann@example", "needs a dot")]
    [InlineData("ann@-example.org", "not a valid domain")]
    [InlineData("ann@example-.org", "not a valid domain")]
    [InlineData("ann@exa_mple.org", "not a valid domain")]
    [InlineData("jörg@example.org", "ASCII")]
    public void RejectsMalformedAddressesWithAReason(string input, string reason)
    {
        Assert.False(EmailAddress.TryNormalize(input, out var normalized, out var error));
        Assert.Equal("", normalized);
        Assert.Contains(reason, error, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void RejectsALocalPartOver64Characters()
    {
        Assert.True(EmailAddress.TryNormalize(new string('a', 64) + "@example.org", out _, out _));
        Assert.False(EmailAddress.TryNormalize(new string('a', 65) + "@example.org", out _, out var error));
        Assert.Contains("64", error, StringComparison.Ordinal);
    }

    [Fact]
    public void RejectsAnAddressOver254Characters()
    {
        var domain = new string('d', 62) + "." + new string('e', 61) + "." + new string('f', 61) + ".org";
        Assert.Equal(190, domain.Length);
        var fits = new string('a', 63) + "@" + domain;
        Assert.Equal(254, fits.Length);
        Assert.True(EmailAddress.TryNormalize(fits, out _, out var error), error);
        Assert.False(EmailAddress.TryNormalize("a" + fits, out _, out error));
        Assert.Contains("254", error, StringComparison.Ordinal);
    }

    [Fact]
    public void ComparesAddressesCaseInsensitively()
    {
        Assert.True(EmailAddress.TryNormalize("Ann@Example.org", out var a, out _));
        Assert.True(EmailAddress.TryNormalize("ann@example.ORG", out var b, out _));
        Assert.NotEqual(a, b);
        Assert.True(EmailAddress.AreSame(a, b));
        Assert.Single(new HashSet<string>([a, b], EmailAddress.Comparer));
    }

    [Fact]
    public void NormalizeThrowsWithTheReason()
    {
        var e = Assert.Throws<ArgumentException>(() => EmailAddress.Normalize("nobody"));
        Assert.Contains("needs an @", e.Message, StringComparison.Ordinal);
    }
}
