using Newsletter.Testing;

namespace Newsletter.Mail.Tests;

public class OutboxReaderTests
{
    private static async Task<string> OutboxWithAsync(int count)
    {
        var folder = RepoPaths.TempDir("outbox");
        await using var transport = new PickupTransport(folder);
        for (var i = 0; i < count; i++)
        {
            await transport.SendAsync(TestMail.Build(TestMail.Issue($"reader{i}@example.org", i) with { Subject = $"Message {i}" }), null, TestContext.Current.CancellationToken);
        }

        return folder;
    }

    [Fact]
    public async Task ListsMessagesNewestFirstInPages()
    {
        var reader = new OutboxReader(await OutboxWithAsync(5));

        var first = reader.List(1, 2, out var more1);
        var second = reader.List(2, 2, out var more2);
        var third = reader.List(3, 2, out var more3);

        Assert.Equal(["Message 4", "Message 3"], first.Select(e => e.Subject));
        Assert.Equal(["Message 2", "Message 1"], second.Select(e => e.Subject));
        Assert.Equal(["Message 0"], third.Select(e => e.Subject));
        Assert.True(more1);
        Assert.True(more2);
        Assert.False(more3);
        Assert.Equal(5, reader.Count());
        var entry = first[0];
        Assert.Contains("reader4@example.org", entry.To, StringComparison.Ordinal);
        Assert.InRange(entry.Date, DateTime.UtcNow.AddMinutes(-1), DateTime.UtcNow.AddMinutes(1));
        Assert.True(entry.Size > 500);
        Assert.EndsWith(".eml", entry.FileName, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReadsOneMessageWithHeadersBodiesAndRawSource()
    {
        var reader = new OutboxReader(await OutboxWithAsync(1));
        var name = reader.List(1, 10, out _).Single().FileName;

        var message = reader.Read(name);

        Assert.NotNull(message);
        Assert.Equal("Message 0", message.Subject);
        Assert.Contains(message.Headers, h => h.Name == "List-Unsubscribe-Post" && h.Value == "List-Unsubscribe=One-Click");
        Assert.Contains(message.Headers, h => h.Name == "Return-Path");
        Assert.Contains("<strong>fail visibly</strong>", message.Html, StringComparison.Ordinal);
        Assert.Equal("Systems should fail visibly.", message.Text);
        Assert.StartsWith("Return-Path: ", message.Raw, StringComparison.Ordinal);
        Assert.Contains("Content-Type: multipart/alternative", message.Raw, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DecodesANonAsciiSubjectInTheList()
    {
        var folder = RepoPaths.TempDir("outbox");
        await using (var transport = new PickupTransport(folder))
        {
            await transport.SendAsync(TestMail.Build(TestMail.Issue() with { Subject = "Über Zuverlässigkeit" }), null, TestContext.Current.CancellationToken);
        }

        Assert.Equal("Über Zuverlässigkeit", new OutboxReader(folder).List(1, 10, out _).Single().Subject);
    }

    [Theory]
    [InlineData("../secret.eml")]
    [InlineData("..%2Fsecret.eml")]
    [InlineData("/etc/passwd")]
    [InlineData("sub/message.eml")]
    [InlineData("..\\secret.eml")]
    [InlineData(".hidden.eml")]
    [InlineData("..eml")]
    [InlineData("message.txt")]
    [InlineData("message.eml\n")]
    [InlineData("")]
    public async Task RefusesFileNamesOutsideTheFolder(string name)
    {
        var folder = await OutboxWithAsync(1);
        var parent = Path.GetDirectoryName(folder)!;
        await File.WriteAllTextAsync(Path.Combine(parent, "secret.eml"), "Subject: secret\r\n\r\nsecret\r\n", TestContext.Current.CancellationToken);
        Directory.CreateDirectory(Path.Combine(folder, "sub"));
        await File.WriteAllTextAsync(Path.Combine(folder, "sub", "message.eml"), "Subject: nested\r\n\r\nnested\r\n", TestContext.Current.CancellationToken);

        Assert.Null(new OutboxReader(folder).Read(name));
        Assert.False(OutboxReader.IsSafeName(name));
    }

    [Fact]
    public void ReturnsNothingForAMissingMessageOrFolder()
    {
        var reader = new OutboxReader(Path.Combine(RepoPaths.TempDir("outbox"), "never-created"));
        Assert.Empty(reader.List(1, 10, out var more));
        Assert.False(more);
        Assert.Null(reader.Read("20260101-000000-0000000-abc.eml"));
        Assert.Equal(0, reader.Count());
    }
}
