using MimeKit;
using Newsletter.Testing;

namespace Newsletter.Mail.Tests;

public class PickupTransportTests
{
    [Fact]
    public async Task WritesAReadableEmlFileWithTheEnvelopeSenderAsReturnPath()
    {
        var folder = RepoPaths.TempDir("pickup");
        await using var transport = new PickupTransport(folder);

        var result = await transport.SendAsync(TestMail.Build(), new MailboxAddress("", "bounce+345-ab12cd34@bounces.field-notes.example"), TestContext.Current.CancellationToken);

        Assert.Equal(SendOutcome.Sent, result.Outcome);
        var file = Assert.Single(Directory.GetFiles(folder));
        Assert.EndsWith(".eml", file, StringComparison.Ordinal);
        Assert.StartsWith("Return-Path: <bounce+345-ab12cd34@bounces.field-notes.example>\r\n", await File.ReadAllTextAsync(file, TestContext.Current.CancellationToken), StringComparison.Ordinal);
        var message = await MimeMessage.LoadAsync(file, TestContext.Current.CancellationToken);
        Assert.Equal("issue-12.sub-345@field-notes.example", message.MessageId);
        Assert.Equal("Systems should fail visibly.", message.TextBody);
        Assert.Equal("List-Unsubscribe=One-Click", message.Headers["List-Unsubscribe-Post"]);
    }

    [Fact]
    public async Task UsesTheFromAddressAsReturnPathWithoutAnEnvelopeSender()
    {
        var folder = RepoPaths.TempDir("pickup");
        await using var transport = new PickupTransport(folder);

        await transport.SendAsync(TestMail.Build(), null, TestContext.Current.CancellationToken);

        var message = await MimeMessage.LoadAsync(Directory.GetFiles(folder).Single(), TestContext.Current.CancellationToken);
        Assert.Equal("<notes@field-notes.example>", message.Headers[HeaderId.ReturnPath]);
    }

    [Fact]
    public async Task LeavesNoTemporaryFilesBehind()
    {
        var folder = RepoPaths.TempDir("pickup");
        await using var transport = new PickupTransport(folder);
        await using var session = await transport.OpenSessionAsync(TestContext.Current.CancellationToken);

        await Task.WhenAll(Enumerable.Range(0, 20).Select(i => session.SendAsync(TestMail.Build(TestMail.Issue($"r{i}@example.org", i)), null, TestContext.Current.CancellationToken)));

        var files = Directory.GetFiles(folder);
        Assert.Equal(20, files.Length);
        Assert.All(files, f => Assert.EndsWith(".eml", f, StringComparison.Ordinal));
    }

    [Fact]
    public void CreatesTheFolderAndRefusesAnEmptyOne()
    {
        var folder = Path.Combine(RepoPaths.TempDir("pickup"), "deeper", "outbox");
        _ = new PickupTransport(folder);
        Assert.True(Directory.Exists(folder));
        Assert.Throws<ArgumentException>(() => new PickupTransport(""));
    }
}
