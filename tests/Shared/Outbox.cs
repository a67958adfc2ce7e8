#if NEWSLETTER_WEB
using System.Text.RegularExpressions;
using MimeKit;

namespace Newsletter.Testing;

/// <summary>Reads what the app wrote to its pickup folder, account mail (in its own subfolder) included.</summary>
public static partial class Outbox
{
    public static async Task<MimeMessage> WaitForAsync(string folder, string to, Func<MimeMessage, bool>? match = null, int count = 1, TimeSpan? timeout = null)
    {
        var all = await WaitForAllAsync(folder, to, count, match, timeout);
        return all[count - 1];
    }

    public static async Task<IReadOnlyList<MimeMessage>> WaitForAllAsync(string folder, string to, int count, Func<MimeMessage, bool>? match = null, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (true)
        {
            var found = Read(folder).Where(m => m.To.Mailboxes.Any(b => string.Equals(b.Address, to, StringComparison.OrdinalIgnoreCase)))
                .Where(m => match is null || match(m)).ToList();
            if (found.Count >= count)
            {
                return found;
            }

            if (DateTime.UtcNow > deadline)
            {
                var all = string.Join("; ", Read(folder).Select(m => $"{m.To} «{m.Subject}»"));
                throw new TimeoutException($"Expected {count} message(s) to {to} in {folder}; found {found.Count}. The folder holds: {all}");
            }

            await Task.Delay(100);
        }
    }

    public static IReadOnlyList<MimeMessage> Read(string folder)
    {
        if (!Directory.Exists(folder))
        {
            return [];
        }

        var messages = new List<MimeMessage>();
        foreach (var file in Directory.GetFiles(folder, "*.eml", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            try
            {
                messages.Add(MimeMessage.Load(file));
            }
            catch (IOException)
            {
                // being written right now; the next poll reads it
            }
        }

        return messages.OrderBy(m => m.Date).ToList();
    }

    public static string Link(MimeMessage message, string pathPart)
    {
        var text = message.TextBody ?? "";
        var m = Regex.Match(text, "https?://[^\\s<>\"]*" + Regex.Escape(pathPart) + "[^\\s<>\"]*");
        if (!m.Success)
        {
            m = Regex.Match(message.HtmlBody ?? "", "https?://[^\\s<>\"]*" + Regex.Escape(pathPart) + "[^\\s<>\"]*");
        }

        return m.Success ? System.Net.WebUtility.HtmlDecode(m.Value) : throw new InvalidOperationException($"No link containing {pathPart} in message '{message.Subject}'");
    }

    /// <summary>The path and query of an absolute link, for an HttpClient whose base is the test server.</summary>
    public static string PathOf(string url) => new Uri(url).PathAndQuery;
}
#endif
