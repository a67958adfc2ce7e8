using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;
using Newsletter.Web.Infrastructure;

namespace Newsletter.Tests.Infrastructure;

/// <summary>Ids handed to readers (links, Message-IDs, bounce addresses) open only here, only as what they were made for, and tell nothing.</summary>
public class SealedNumbersTests
{
    [Fact]
    public void ASealedIdOpensOnlyAsItsKindWithItsNumberAndAnyChangedBitIsRefused()
    {
        using var app = new NewsletterApp();
        var sealedNumbers = app.Services.GetRequiredService<SealedNumbers>();

        var block = sealedNumbers.Seal(SealedKind.IssueMessage, 12, 345);
        Assert.True(sealedNumbers.TryOpen(block, SealedKind.IssueMessage, 12, out var id));
        Assert.Equal(345, id);
        Assert.False(sealedNumbers.TryOpen(block, SealedKind.IssueMessage, 13, out _));
        Assert.False(sealedNumbers.TryOpen(block, SealedKind.WelcomeMessage, 12, out _));
        Assert.False(sealedNumbers.TryOpen(block, SealedKind.ManageLink, 0, out _));
        for (var bit = 0; bit < 8 * SealedNumbers.Length; bit++)
        {
            var changed = (byte[])block.Clone();
            changed[bit / 8] ^= (byte)(1 << (bit % 8));
            Assert.False(sealedNumbers.TryOpen(changed, SealedKind.IssueMessage, 12, out _), $"bit {bit}");
        }

        Assert.False(sealedNumbers.TryOpen(block.AsSpan(1), SealedKind.IssueMessage, 12, out _));
        Assert.False(sealedNumbers.TryOpenHex(new string('0', 32), SealedKind.IssueMessage, 12, out _));
        Assert.False(sealedNumbers.TryOpenHex("not hex at all, thirty-two chars", SealedKind.IssueMessage, 12, out _));
        Assert.True(sealedNumbers.TryOpenHex(Convert.ToHexString(block), SealedKind.IssueMessage, 12, out _));

        // The same id sealed again is the same block: a copy sent again after a crash carries the same Message-ID.
        Assert.Equal(block, sealedNumbers.Seal(SealedKind.IssueMessage, 12, 345));
    }

    [Fact]
    public void ConsecutiveIdsSealToUnrelatedBlocks()
    {
        using var app = new NewsletterApp();
        var sealedNumbers = app.Services.GetRequiredService<SealedNumbers>();

        // In the clear (or beside a MAC), readers 1 to 1,000 shared their first seven bytes and counted up in the
        // eighth. Sealed, each byte looks drawn at random: 1,000 draws of 256 values hit about 251 of them.
        var blocks = Enumerable.Range(1, 1000).Select(i => sealedNumbers.Seal(SealedKind.ManageLink, 0, i)).ToList();
        Assert.Equal(1000, blocks.Select(Convert.ToHexString).Distinct().Count());
        for (var position = 0; position < SealedNumbers.Length; position++)
        {
            var distinct = blocks.Select(b => b[position]).Distinct().Count();
            Assert.True(distinct > 200, $"byte {position} took only {distinct} values");
        }

        Assert.All(blocks.Select((b, i) => (b, i)), x =>
        {
            Assert.True(sealedNumbers.TryOpen(x.b, SealedKind.ManageLink, 0, out var id));
            Assert.Equal(x.i + 1, id);
        });
    }

    [Fact]
    public async Task EveryNodeOfAnInstallationOpensWhatAnotherSealedAndAnotherInstallationOpensNothing()
    {
        using var nodeA = new NewsletterApp();
        using var nodeB = new NewsletterApp(nodeA.SecondNode());
        using var elsewhere = new NewsletterApp();
        var block = nodeA.Services.GetRequiredService<SealedNumbers>().Seal(SealedKind.BounceAddress, 0, 987_654_321);

        // Threads each keep their own cipher: open on several at once, as the send workers and the inbound endpoint do.
        var opened = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() =>
            nodeB.Services.GetRequiredService<SealedNumbers>().TryOpen(block, SealedKind.BounceAddress, 0, out var id) ? id : -1, TestContext.Current.CancellationToken)));
        Assert.All(opened, id => Assert.Equal(987_654_321, id));
        Assert.False(elsewhere.Services.GetRequiredService<SealedNumbers>().TryOpen(block, SealedKind.BounceAddress, 0, out _));
    }
}
