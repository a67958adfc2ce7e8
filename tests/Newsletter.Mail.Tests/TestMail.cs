using MimeKit;

namespace Newsletter.Mail.Tests;

/// <summary>Messages and options the tests build on.</summary>
internal static class TestMail
{
    public static MailOptions Options(string? pickupFolder = null) => new()
    {
        FromAddress = "notes@field-notes.example",
        FromName = "Field Notes",
        PickupFolder = pickupFolder ?? "",
    };

    public static OutgoingMessage Issue(string to = "reader@example.org", int subscriber = 345) => new()
    {
        ToAddress = to,
        ToName = "Ann Reader",
        Subject = "Issue 12: Failing visibly",
        Html = "<p>Systems should <strong>fail visibly</strong>.</p>",
        Text = "Systems should fail visibly.",
        MessageId = $"issue-12.sub-{subscriber}@field-notes.example",
        ListUnsubscribeUrl = $"https://field-notes.example/unsubscribe/tok{subscriber}",
        ListUnsubscribeMailto = $"mailto:notes@field-notes.example?subject=unsubscribe%20tok{subscriber}",
        ListId = "Field Notes <field-notes.field-notes.example>",
        Bulk = true,
        ReturnPath = $"bounce+{subscriber}-ab12cd34@bounces.field-notes.example",
    };

    public static MimeMessage Build(OutgoingMessage? m = null) => MessageFactory.Build(m ?? Issue(), Options());

    /// <summary>The message as it goes over the wire.</summary>
    public static string Raw(MimeMessage message)
    {
        using var stream = new MemoryStream();
        message.WriteTo(stream, TestContext.Current.CancellationToken);
        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>Parses a message from its wire form, as a receiver would.</summary>
    public static MimeMessage Parse(string raw) =>
        MimeMessage.Load(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(raw)), TestContext.Current.CancellationToken);
}
