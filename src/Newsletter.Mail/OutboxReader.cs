using System.Text.RegularExpressions;
using MimeKit;

namespace Newsletter.Mail;

/// <summary>One message in the pickup folder, as listed.</summary>
public sealed record OutboxEntry(string FileName, DateTime Date, string To, string Subject, long Size);

/// <summary>One message in the pickup folder, opened.</summary>
public sealed record OutboxMessage(string FileName, DateTime Date, string To, string Subject, IReadOnlyList<(string Name, string Value)> Headers, string Html, string Text);

/// <summary>Reads the pickup folder for the admin's Outbox page. File names are checked, so no path escapes the folder.</summary>
public sealed partial class OutboxReader(string folder)
{
    /// <summary>The folder read.</summary>
    public string Folder => folder;

    /// <summary>Messages newest first, one page at a time; hasMore says whether an older page exists.</summary>
    public IReadOnlyList<OutboxEntry> List(int page, int pageSize, out bool hasMore)
    {
        hasMore = false;
        if (!Directory.Exists(folder))
        {
            return [];
        }

        var files = new DirectoryInfo(folder).EnumerateFiles("*.eml").OrderByDescending(f => f.Name, StringComparer.Ordinal)
            .Skip((Math.Max(1, page) - 1) * pageSize).Take(pageSize + 1).ToList();
        hasMore = files.Count > pageSize;
        var entries = new List<OutboxEntry>();
        foreach (var file in files.Take(pageSize))
        {
            try
            {
                using var stream = file.OpenRead();
                var headers = HeaderList.Load(stream);
                var date = DateUtils(headers[HeaderId.Date]) ?? file.LastWriteTimeUtc;
                entries.Add(new OutboxEntry(file.Name, date, headers[HeaderId.To] ?? "", Decode(headers[HeaderId.Subject]), file.Length));
            }
            catch (Exception e) when (e is IOException or FormatException or ParseException)
            {
                entries.Add(new OutboxEntry(file.Name, file.LastWriteTimeUtc, "", "(unreadable message)", file.Length));
            }
        }

        return entries;
    }

    /// <summary>Opens one message; null when the name is not a message in the folder.</summary>
    public OutboxMessage? Read(string fileName)
    {
        if (!SafeName().IsMatch(fileName))
        {
            return null;
        }

        var path = Path.Combine(folder, fileName);
        if (!File.Exists(path) || Path.GetDirectoryName(Path.GetFullPath(path)) != Path.GetFullPath(folder).TrimEnd(Path.DirectorySeparatorChar))
        {
            return null;
        }

        var message = MimeMessage.Load(path);
        return new OutboxMessage(fileName, message.Date.UtcDateTime, message.To.ToString(), message.Subject ?? "",
            [.. message.Headers.Select(h => (h.Field, h.Value))], message.HtmlBody ?? "", message.TextBody ?? "");
    }

    private static string Decode(string? value) => value is null ? "" : MimeKit.Utils.Rfc2047.DecodeText(System.Text.Encoding.UTF8.GetBytes(value));

    private static DateTime? DateUtils(string? value) =>
        value is not null && MimeKit.Utils.DateUtils.TryParse(value, out var date) ? date.UtcDateTime : null;

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,200}\\.eml$")]
    private static partial Regex SafeName();
}
