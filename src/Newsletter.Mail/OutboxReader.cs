using System.Text.RegularExpressions;
using MimeKit;

namespace Newsletter.Mail;

/// <summary>One message in the pickup folder, as listed.</summary>
/// <param name="FileName">The file's name in the folder (the key for <see cref="OutboxReader.Read"/>).</param>
/// <param name="Date">The message's Date header in UTC, or the file's time when it has none.</param>
/// <param name="To">The To header, decoded.</param>
/// <param name="Subject">The subject, decoded.</param>
/// <param name="Size">The file's size in bytes.</param>
public sealed record OutboxEntry(string FileName, DateTime Date, string To, string Subject, long Size);

/// <summary>One message in the pickup folder, opened.</summary>
/// <param name="FileName">The file's name in the folder.</param>
/// <param name="Date">The Date header in UTC.</param>
/// <param name="To">The To header, decoded.</param>
/// <param name="Subject">The subject, decoded.</param>
/// <param name="Headers">Every header in order, values decoded.</param>
/// <param name="Html">The HTML body, empty when there is none.</param>
/// <param name="Text">The text body, empty when there is none.</param>
/// <param name="Raw">The whole file as written, headers and MIME parts.</param>
public sealed record OutboxMessage(string FileName, DateTime Date, string To, string Subject, IReadOnlyList<(string Name, string Value)> Headers, string Html, string Text, string Raw);

/// <summary>
/// Reads the pickup folder for the admin's Outbox page. A file name from a request is only used when it
/// is a plain name of an .eml file directly in the folder: no separators, no "..", no hidden files.
/// </summary>
public sealed partial class OutboxReader(string folder)
{
    /// <summary>The folder read.</summary>
    public string Folder => folder;

    /// <summary>How many messages the folder holds.</summary>
    public int Count() => Directory.Exists(folder) ? Directory.EnumerateFiles(folder, "*.eml").Count(f => IsSafeName(Path.GetFileName(f))) : 0;

    /// <summary>Messages newest first, one page at a time (pages count from 1); <paramref name="hasMore"/> says whether an older page exists.</summary>
    public IReadOnlyList<OutboxEntry> List(int page, int pageSize, out bool hasMore)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(pageSize, 1);
        hasMore = false;
        if (!Directory.Exists(folder))
        {
            return [];
        }

        // Names start with the UTC time they were written, so name order is time order.
        var files = new DirectoryInfo(folder).EnumerateFiles("*.eml").Where(f => IsSafeName(f.Name))
            .OrderByDescending(f => f.Name, StringComparer.Ordinal)
            .Skip((Math.Max(1, page) - 1) * pageSize).Take(pageSize + 1).ToList();
        hasMore = files.Count > pageSize;
        var entries = new List<OutboxEntry>();
        foreach (var file in files.Take(pageSize))
        {
            try
            {
                using var stream = file.OpenRead();
                var headers = HeaderList.Load(stream);
                var date = ParseDate(headers[HeaderId.Date]) ?? file.LastWriteTimeUtc;
                entries.Add(new OutboxEntry(file.Name, date, Decode(headers[HeaderId.To]), Decode(headers[HeaderId.Subject]), file.Length));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or ParseException)
            {
                // Shown, not hidden: a broken file in the outbox is something the admin should see.
                entries.Add(new OutboxEntry(file.Name, file.LastWriteTimeUtc, "", $"(unreadable message: {e.Message})", file.Length));
            }
        }

        return entries;
    }

    /// <summary>Opens one message; null when <paramref name="fileName"/> is not the name of a message in the folder.</summary>
    public OutboxMessage? Read(string fileName)
    {
        if (!IsSafeName(fileName))
        {
            return null;
        }

        var root = Path.GetFullPath(folder).TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar;
        var path = Path.GetFullPath(Path.Combine(root, fileName));
        if (!path.StartsWith(root, StringComparison.Ordinal) || !File.Exists(path))
        {
            return null;
        }

        string raw;
        MimeMessage message;
        try
        {
            raw = File.ReadAllText(path);
            using var stream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(raw));
            message = MimeMessage.Load(stream);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or ParseException)
        {
            // Shown as what it is, like in the list: a broken file is something the admin should see, not a 500.
            return new OutboxMessage(fileName, File.GetLastWriteTimeUtc(path), "", $"(unreadable message: {e.Message})", [], "", "", "");
        }

        return new OutboxMessage(fileName, message.Date.UtcDateTime, Decode(message.Headers[HeaderId.To]), message.Subject ?? "",
            [.. message.Headers.Select(h => (h.Field, Decode(h.Value)))], message.HtmlBody ?? "", message.TextBody ?? "", raw);
    }

    /// <summary>
    /// Deletes every message whose To header holds <paramref name="address"/> (compared case-insensitively),
    /// for an erase request: the pickup folder is a copy of what was sent, personal data included.
    /// </summary>
    /// <returns>How many messages were deleted.</returns>
    public int DeleteAddressedTo(string address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (!Directory.Exists(folder))
        {
            return 0;
        }

        var deleted = 0;
        foreach (var file in new DirectoryInfo(folder).EnumerateFiles("*.eml").Where(f => IsSafeName(f.Name)).ToList())
        {
            bool match;
            using (var stream = file.OpenRead())
            {
                var headers = HeaderList.Load(stream);
                match = InternetAddressList.TryParse(headers[HeaderId.To] ?? "", out var to)
                    && to.Mailboxes.Any(m => EmailAddress.AreSame(m.Address, address));
            }

            if (match)
            {
                file.Delete();
                deleted++;
            }
        }

        return deleted;
    }

    /// <summary>Whether <paramref name="fileName"/> is a plain .eml name this reader would open.</summary>
    public static bool IsSafeName(string? fileName) => fileName is not null && SafeName().IsMatch(fileName) && !fileName.Contains("..", StringComparison.Ordinal);

    private static string Decode(string? value) => value is null ? "" : MimeKit.Utils.Rfc2047.DecodeText(System.Text.Encoding.UTF8.GetBytes(value)).Trim();

    private static DateTime? ParseDate(string? value) =>
        value is not null && MimeKit.Utils.DateUtils.TryParse(value, out var date) ? date.UtcDateTime : null;

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.eml\z")]
    private static partial Regex SafeName();
}
