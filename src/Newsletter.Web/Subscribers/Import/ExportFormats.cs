using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;

namespace Newsletter.Web.Subscribers.Import;

/// <summary>What the old platform said of a reader.</summary>
public enum RowState
{
    /// <summary>Receiving there: arrives as the import's mode says (active with consent, or pending with a confirmation).</summary>
    Subscribed,

    /// <summary>Never confirmed there: not imported (reported), since nobody ever agreed.</summary>
    Unconfirmed,

    /// <summary>Left there: arrives Unsubscribed and is never mailed; can come back only by subscribing here.</summary>
    Unsubscribed,

    /// <summary>Bounced ("cleaned") there: arrives Bounced and suppressed.</summary>
    Bounced,

    /// <summary>Marked mail as spam there: arrives Complained and suppressed.</summary>
    Complained,
}

/// <summary>
/// One row as a file's reader understood it: dates already read, the reader's state on the old platform, the
/// evidence of consent the export holds (already in words, built only from parsed dates and addresses), and the
/// problem that keeps the row out, if any.
/// </summary>
public readonly record struct ReadRow(string Email, string? Name, string? Tags, DateTime? SubscribedAt, DateTime? ConfirmedAt,
    RowState State = RowState.Subscribed, DateTime? LeftAt = null, string? Evidence = null, string? Problem = null);

/// <summary>Reads the rows of one file shape: a platform's export, or any CSV with an email column.</summary>
public interface IRowReader
{
    /// <summary>The platform recognised ("Mailchimp"...), or null for a CSV of the author's own.</summary>
    string? Platform { get; }

    /// <summary>How the file's columns were read, in words for the import page: "email ← Email Address; ...".</summary>
    string Mapping { get; }

    ReadRow Read(string[] fields);
}

/// <summary>
/// The export files of other newsletter platforms, recognised by their header alone (README: "Coming from another
/// platform" says what each is based on). Each keeps the reader's status there: unsubscribed, cleaned/bounced and
/// complained rows never arrive as pending or active.
/// </summary>
public static class ExportFormats
{
    /// <summary>The reader for this header, or null when no platform's export looks like it.</summary>
    public static IRowReader? Detect(string[] header, string fileName)
    {
        var columns = new Columns(header);
        if (columns.HasAll("email", "name", "status", "tags", "source", "consent", "subscribed", "confirmed", "unsubscribed"))
        {
            return new ThisApp(columns);
        }

        if (columns.Has("emailaddress") && columns.HasAny("memberrating", "leid", "euid", "optintime", "confirmtime"))
        {
            // Mailchimp's zip holds one file per status; non-subscribed contacts (from a shop, an event) never opted in.
            if (fileName.Contains("nonsubscribed", StringComparison.OrdinalIgnoreCase))
            {
                throw new CsvFormatException("This is Mailchimp's export of non-subscribed contacts: they never subscribed to the newsletter, so none of them is imported. Import the subscribed, unsubscribed and cleaned files.");
            }

            return new Mailchimp(columns);
        }

        if (columns.HasAll("uuid", "email", "attributes", "status"))
        {
            return new Listmonk(columns);
        }

        // Ghost before 4.0 wrote "subscribed" where it now writes "subscribed_to_emails".
        if (columns.Has("email") && (columns.Has("subscribedtoemails") || (columns.Has("subscribed") && columns.HasAny("complimentaryplan", "stripecustomerid")))
            && columns.HasAny("complimentaryplan", "stripecustomerid", "labels"))
        {
            return new Ghost(columns);
        }

        if (columns.Has("email") && columns.HasAll("activesubscription", "emaildisabled"))
        {
            return new Substack(columns);
        }

        if (columns.HasAny("email", "emailaddress") && columns.Has("type") && columns.HasAny("creationdate", "secondaryid", "referrerurl"))
        {
            return new Buttondown(columns);
        }

        if (columns.HasAny("emailaddress", "email") && columns.Has("state") && columns.HasAny("firstname", "createdat"))
        {
            return new Kit(columns);
        }

        return null;
    }

    /// <summary>The header, each name lower-cased with only its letters and digits ("Email Address" is "emailaddress").</summary>
    internal sealed class Columns(string[] header)
    {
        private readonly string[] _names = [.. header.Select(Key)];

        public static string Key(string name) => new([.. name.Trim().ToLowerInvariant().Where(char.IsLetterOrDigit)]);

        public bool Has(string key) => Array.IndexOf(_names, key) >= 0;

        public bool HasAny(params string[] keys) => keys.Any(Has);

        public bool HasAll(params string[] keys) => keys.All(Has);

        /// <summary>The index of the first column with one of these names, or -1.</summary>
        public int Find(params string[] keys)
        {
            foreach (var key in keys)
            {
                var i = Array.IndexOf(_names, key);
                if (i >= 0)
                {
                    return i;
                }
            }

            return -1;
        }

        /// <summary>The column's name as the file wrote it, for the mapping shown to the author.</summary>
        public string Name(int index) => index >= 0 ? header[index].Trim() : "";
    }

    /// <summary>What every platform reader shares: column lookup, the mapping in words, and the hostile-value rules.</summary>
    private abstract class PlatformReader : IRowReader
    {
        private readonly List<string> _mapping = [];

        protected PlatformReader(Columns columns) => Columns = columns;

        public abstract string Platform { get; }

        public string Mapping => string.Join("; ", _mapping);

        protected Columns Columns { get; }

        public abstract ReadRow Read(string[] fields);

        /// <summary>Finds a column and notes in the mapping what it became.</summary>
        protected int Column(string meaning, params string[] keys)
        {
            var i = Columns.Find(keys);
            if (i >= 0)
            {
                _mapping.Add($"{meaning} ← {Columns.Name(i)}");
            }

            return i;
        }

        protected void Note(string text) => _mapping.Add(text);

        protected static string? At(string[] f, int i) => i >= 0 && i < f.Length ? CsvReader.Unguard(f[i]).Trim() : null;

        /// <summary>A date, or a problem naming the column: a bad date keeps the row out rather than guessing.</summary>
        protected DateTime? Date(string[] f, int i, ref string? problem)
        {
            var text = At(f, i);
            if (ImportValues.TryDate(text, out var value))
            {
                return value;
            }

            problem ??= $"the {Columns.Name(i)} date '{ImportValues.Shorten(text!)}' could not be read";
            return null;
        }

        protected string UnknownStatus(string column, string? value, string known) =>
            $"unknown {Platform} {column} '{ImportValues.Shorten(value ?? "")}' (known: {known}): not imported, so nobody is mailed by mistake";
    }

    /// <summary>
    /// Mailchimp's "Export audience": one file per status (subscribed, unsubscribed, cleaned), the status told by
    /// the columns only that file has (UNSUB_TIME, CLEAN_TIME); OPTIN_TIME/OPTIN_IP/CONFIRM_TIME/CONFIRM_IP are the
    /// consent record, TAGS the tags ("a","b"). Times are UTC.
    /// </summary>
    private sealed class Mailchimp : PlatformReader
    {
        private readonly int _email, _first, _last, _optin, _optinIp, _confirm, _confirmIp, _tags, _left;
        private readonly RowState _state;

        public Mailchimp(Columns c) : base(c)
        {
            _email = Column("email", "emailaddress");
            _first = Column("first name", "firstname", "fname");
            _last = Column("last name", "lastname", "lname");
            _optin = Column("subscribed", "optintime");
            _optinIp = Column("consent (opt-in address)", "optinip");
            _confirm = Column("confirmed", "confirmtime");
            _confirmIp = Column("consent (confirmation address)", "confirmip");
            _tags = Column("tags", "tags");
            var clean = c.Find("cleantime");
            var unsub = c.Find("unsubtime");
            (_state, _left) = clean >= 0 ? (RowState.Bounced, clean) : unsub >= 0 ? (RowState.Unsubscribed, unsub) : (RowState.Subscribed, -1);
            Note(_state switch
            {
                RowState.Bounced => "status: cleaned (this is the cleaned file: it has CLEAN_TIME) → bounced and suppressed",
                RowState.Unsubscribed => "status: unsubscribed (this is the unsubscribed file: it has UNSUB_TIME) → unsubscribed",
                _ => "status: subscribed (no UNSUB_TIME or CLEAN_TIME column)",
            });
            if (_left >= 0)
            {
                Column("left", Columns.Key(c.Name(_left)));
            }
        }

        public override string Platform => "Mailchimp";

        public override ReadRow Read(string[] f)
        {
            string? problem = null;
            var optin = Date(f, _optin, ref problem);
            var confirm = Date(f, _confirm, ref problem);
            var left = Date(f, _left, ref problem);
            var evidence = ImportValues.Join(
                ImportValues.Event("opted in", optin, At(f, _optinIp)),
                ImportValues.Event("confirmed", confirm, At(f, _confirmIp)));
            return new ReadRow(At(f, _email) ?? "", $"{At(f, _first)} {At(f, _last)}".Trim(), ImportValues.QuotedList(At(f, _tags)), optin ?? confirm, confirm ?? optin,
                _state, left, evidence, problem);
        }
    }

    /// <summary>Substack's subscriber export: email_disabled says the reader stopped the emails; created_at is when they joined.</summary>
    private sealed class Substack : PlatformReader
    {
        private readonly int _email, _name, _created, _disabled, _active, _plan;

        public Substack(Columns c) : base(c)
        {
            _email = Column("email", "email");
            _name = Column("name", "name");
            _created = Column("subscribed and confirmed", "createdat", "subscriptioncreatedat");
            _disabled = Column("status (true → unsubscribed)", "emaildisabled");
            _active = Column("tag 'paid' when true", "activesubscription");
            _plan = Column("tag (a paid plan's name)", "plan");
        }

        public override string Platform => "Substack";

        public override ReadRow Read(string[] f)
        {
            string? problem = null;
            var created = Date(f, _created, ref problem);
            // An empty status is no status: read as false it made a reader active (or, on Ghost, unsubscribed) by a guess.
            var disabled = At(f, _disabled) is { Length: > 0 } said ? ImportValues.TryBool(said) : null;
            var paid = ImportValues.TryBool(At(f, _active));
            if (disabled is null)
            {
                problem ??= UnknownStatus("email_disabled", At(f, _disabled), "true, false");
            }

            var plan = At(f, _plan);
            var tags = paid == true ? string.IsNullOrEmpty(plan) ? "paid" : $"paid,{plan}" : null;
            return new ReadRow(At(f, _email) ?? "", At(f, _name), tags, created, created,
                disabled == true ? RowState.Unsubscribed : RowState.Subscribed, null, ImportValues.Event("subscribed", created, null), problem);
        }
    }

    /// <summary>Ghost's members export: subscribed_to_emails false is an unsubscribed reader; labels are the tags.</summary>
    private sealed class Ghost : PlatformReader
    {
        private readonly int _email, _name, _subscribed, _created, _labels, _deleted;

        public Ghost(Columns c) : base(c)
        {
            _email = Column("email", "email");
            _name = Column("name", "name");
            _subscribed = Column("status (false → unsubscribed)", "subscribedtoemails", "subscribed");
            _created = Column("subscribed and confirmed", "createdat");
            _labels = Column("tags", "labels");
            _deleted = Column("status (set → unsubscribed)", "deletedat");
        }

        public override string Platform => "Ghost";

        public override ReadRow Read(string[] f)
        {
            string? problem = null;
            var created = Date(f, _created, ref problem);
            var deleted = Date(f, _deleted, ref problem);
            var subscribed = At(f, _subscribed) is { Length: > 0 } said ? ImportValues.TryBool(said) : null;
            if (subscribed is null)
            {
                problem ??= UnknownStatus("subscribed_to_emails", At(f, _subscribed), "true, false");
            }

            var state = subscribed == true && deleted is null ? RowState.Subscribed : RowState.Unsubscribed;
            return new ReadRow(At(f, _email) ?? "", At(f, _name), At(f, _labels), created, created, state, deleted,
                ImportValues.Event("member since", created, null), problem);
        }
    }

    /// <summary>Buttondown's subscriber export: the type column is the status (regular, premium, unsubscribed, ...).</summary>
    private sealed class Buttondown : PlatformReader
    {
        private readonly int _email, _type, _created, _tags, _referrer;

        public Buttondown(Columns c) : base(c)
        {
            _email = Column("email", "email", "emailaddress");
            _type = Column("status", "type", "subscribertype");
            _created = Column("subscribed and confirmed", "creationdate", "createdat");
            _tags = Column("tags", "tags");
            _referrer = Column("consent (where they signed up)", "referrerurl");
        }

        public override string Platform => "Buttondown";

        public override ReadRow Read(string[] f)
        {
            string? problem = null;
            var created = Date(f, _created, ref problem);
            var type = At(f, _type)?.ToLowerInvariant();
            RowState? state = type switch
            {
                "regular" or "premium" or "trialed" or "gifted" or "unpaid" or "churning" or "churned" or "paused" or "past_due" => RowState.Subscribed,
                "unactivated" => RowState.Unconfirmed,
                "unsubscribed" or "removed" => RowState.Unsubscribed,
                "spammy" or "complained" => RowState.Complained,
                "undeliverable" or "bounced" => RowState.Bounced,
                _ => null,
            };
            if (state is null)
            {
                problem ??= UnknownStatus("type", type, "regular, premium, trialed, gifted, unpaid, churning, churned, paused, past_due, unactivated, unsubscribed, removed, spammy, complained, undeliverable, bounced");
            }

            var referrer = ImportValues.WebAddress(At(f, _referrer));
            var evidence = ImportValues.Event("subscribed", created, null) is { } e && referrer is not null ? $"{e} on {referrer}" : ImportValues.Event("subscribed", created, null);
            return new ReadRow(At(f, _email) ?? "", null, At(f, _tags), created, created, state ?? RowState.Subscribed, null, evidence, problem);
        }
    }

    /// <summary>
    /// listmonk's subscriber export (uuid, email, name, attributes, status, created_at, updated_at): status enabled,
    /// disabled or blocklisted. Its export has no list subscriptions; a lists or subscription_status column added by
    /// hand (or by a newer version) is read when present.
    /// </summary>
    private sealed class Listmonk : PlatformReader
    {
        private readonly int _email, _name, _status, _created, _updated, _lists, _subscription;

        public Listmonk(Columns c) : base(c)
        {
            _email = Column("email", "email");
            _name = Column("name", "name");
            _status = Column("status (blocklisted/disabled → unsubscribed)", "status");
            _created = Column("subscribed and confirmed", "createdat");
            _updated = Column("left (when not enabled)", "updatedat");
            _lists = Column("tags", "lists");
            _subscription = Column("status (unsubscribed/unconfirmed)", "subscriptionstatus");
        }

        public override string Platform => "listmonk";

        public override ReadRow Read(string[] f)
        {
            string? problem = null;
            var created = Date(f, _created, ref problem);
            var updated = Date(f, _updated, ref problem);
            var status = At(f, _status)?.ToLowerInvariant();
            RowState? state = status switch
            {
                "enabled" => RowState.Subscribed,
                "disabled" or "blocklisted" or "blacklisted" => RowState.Unsubscribed,
                _ => null,
            };
            if (state is null)
            {
                problem ??= UnknownStatus("status", status, "enabled, disabled, blocklisted");
            }

            var subscription = At(f, _subscription)?.ToLowerInvariant();
            if (state == RowState.Subscribed && !string.IsNullOrEmpty(subscription))
            {
                state = subscription switch
                {
                    "confirmed" => RowState.Subscribed,
                    "unconfirmed" => RowState.Unconfirmed,
                    "unsubscribed" => RowState.Unsubscribed,
                    _ => null,
                };
                if (state is null)
                {
                    problem ??= UnknownStatus("subscription_status", subscription, "confirmed, unconfirmed, unsubscribed");
                }
            }

            var leaving = state is RowState.Unsubscribed;
            return new ReadRow(At(f, _email) ?? "", At(f, _name), At(f, _lists), created, created, state ?? RowState.Subscribed,
                leaving ? updated : null, ImportValues.Event("subscribed", created, null), problem);
        }
    }

    /// <summary>
    /// This app's own export (Subscribers → Export): the way from one installation to another, or from SQLite to
    /// PostgreSQL. Each reader keeps their status, times and the consent recorded here; read as a generic CSV, every
    /// reader took the import's one consent and mode, left and bounced readers came back active, and the pending
    /// ones were refused by name.
    /// </summary>
    private sealed class ThisApp : PlatformReader
    {
        private readonly int _email, _name, _status, _tags, _consent, _subscribed, _confirmed, _unsubscribed;

        public ThisApp(Columns c) : base(c)
        {
            _email = Column("email", "email");
            _name = Column("name", "name");
            _status = Column("status", "status");
            _tags = Column("tags", "tags");
            _consent = Column("consent", "consent");
            _subscribed = Column("subscribed", "subscribed");
            _confirmed = Column("confirmed", "confirmed");
            _unsubscribed = Column("left", "unsubscribed");
        }

        public override string Platform => "this app's export";

        public override ReadRow Read(string[] f)
        {
            string? problem = null;
            var subscribed = Date(f, _subscribed, ref problem);
            var confirmed = Date(f, _confirmed, ref problem);
            var left = Date(f, _unsubscribed, ref problem);
            var status = At(f, _status)?.ToLowerInvariant();
            RowState? state = status switch
            {
                "active" => RowState.Subscribed,
                "pending" => RowState.Unconfirmed,
                "unsubscribed" => RowState.Unsubscribed,
                "bounced" => RowState.Bounced,
                "complained" => RowState.Complained,
                _ => null,
            };
            if (state is null)
            {
                problem ??= UnknownStatus("status", status, "active, pending, unsubscribed, bounced, complained");
            }

            // The consent recorded by the installation that exported it, kept in its words (one line, bounded).
            var consent = At(f, _consent) is { Length: > 0 } c ? new string([.. c.Take(300).Select(x => Infrastructure.OneLine.IsBreak(x) ? ' ' : x)]) : null;
            var evidence = string.Join("; ", new[] { ImportValues.Event("subscribed", subscribed, null), ImportValues.Event("confirmed", confirmed, null), consent is null ? null : $"consent there: {consent}" }
                .Where(e => e is not null));
            return new ReadRow(At(f, _email) ?? "", At(f, _name), At(f, _tags), subscribed, confirmed ?? subscribed, state ?? RowState.Subscribed,
                state is RowState.Unsubscribed or RowState.Bounced or RowState.Complained ? left : null, evidence.Length == 0 ? null : evidence, problem);
        }
    }

    /// <summary>Kit (ConvertKit): the subscriber's state (active, inactive, cancelled, bounced, complained, cold) and tags.</summary>
    private sealed class Kit : PlatformReader
    {
        private readonly int _email, _first, _last, _state, _created, _tags;

        public Kit(Columns c) : base(c)
        {
            _email = Column("email", "emailaddress", "email");
            _first = Column("first name", "firstname");
            _last = Column("last name", "lastname");
            _state = Column("status", "state");
            _created = Column("subscribed and confirmed", "createdat");
            _tags = Column("tags", "tags");
        }

        public override string Platform => "Kit";

        public override ReadRow Read(string[] f)
        {
            string? problem = null;
            var created = Date(f, _created, ref problem);
            var value = At(f, _state)?.ToLowerInvariant();
            RowState? state = value switch
            {
                "active" or "cold" => RowState.Subscribed,
                "inactive" or "unconfirmed" => RowState.Unconfirmed,
                "cancelled" or "canceled" => RowState.Unsubscribed,
                "bounced" => RowState.Bounced,
                "complained" => RowState.Complained,
                _ => null,
            };
            if (state is null)
            {
                problem ??= UnknownStatus("state", value, "active, cold, inactive, cancelled, bounced, complained");
            }

            return new ReadRow(At(f, _email) ?? "", $"{At(f, _first)} {At(f, _last)}".Trim(), At(f, _tags), created, created,
                state ?? RowState.Subscribed, null, ImportValues.Event("subscribed", created, null), problem);
        }
    }
}

/// <summary>The value rules every import shares: dates, yes/no, and the few values that may enter a consent record.</summary>
public static partial class ImportValues
{
    public static bool TryDate(string? text, out DateTime? value)
    {
        value = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            return true;
        }

        // The common shape first: exact parsing of a plain date is several times cheaper than TryParse.
        if (text.Length == 10 && DateTime.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var day))
        {
            value = day;
            return true;
        }

        // Exports write "2023-04-02 14:03:11" (Mailchimp) or "2021-03-04T05:06:07.000Z" (most others) on every row:
        // read by hand, since TryParse cost more than the rest of such a row's import together.
        if (TryIso(text, out var iso))
        {
            value = iso;
            return true;
        }

        if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var unix) && unix > 100_000_000)
        {
            value = (unix > 100_000_000_000 ? DateTimeOffset.FromUnixTimeMilliseconds(unix) : DateTimeOffset.FromUnixTimeSeconds(unix)).UtcDateTime;
            return true;
        }

        if (DateTime.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var parsed))
        {
            value = parsed;
            return true;
        }

        // "2024-01-02 03:04:05 UTC" (beehiiv and others): the zone's name for what TryParse wants as Z.
        if ((text.EndsWith(" UTC", StringComparison.Ordinal) || text.EndsWith(" GMT", StringComparison.Ordinal)) && TryIso(text[..^4], out var named))
        {
            value = named;
            return true;
        }

        // Go's time.String(), which listmonk's export writes: "2024-01-02 15:04:05.123456 +0000 UTC", or with the
        // offset twice ("+0000 +0000") when the zone has no name.
        if (GoTime().Match(text) is { Success: true } go
            && DateTimeOffset.TryParse($"{go.Groups[1].Value}{go.Groups[2].Value}:{go.Groups[3].Value}", CultureInfo.InvariantCulture, DateTimeStyles.None, out var offset))
        {
            value = offset.UtcDateTime;
            return true;
        }

        return false;
    }

    /// <summary>"yyyy-MM-dd HH:mm:ss" or "yyyy-MM-ddTHH:mm:ss", then an optional fraction and an optional Z: UTC. Anything else is left to TryParse.</summary>
    private static bool TryIso(string t, out DateTime value)
    {
        value = default;
        if (t.Length < 19 || t[4] != '-' || t[7] != '-' || (t[10] != ' ' && t[10] != 'T') || t[13] != ':' || t[16] != ':')
        {
            return false;
        }

        var end = t.Length;
        if (t[end - 1] == 'Z')
        {
            end--;
        }

        long ticks = 0;
        if (end > 19)
        {
            if (t[19] != '.' || end == 20 || end > 27)
            {
                return false;
            }

            for (var i = 20; i < 27; i++)
            {
                int d;
                if (i < end)
                {
                    d = t[i] - '0';
                    if ((uint)d > 9)
                    {
                        return false;
                    }
                }
                else
                {
                    d = 0;
                }

                ticks = ticks * 10 + d;
            }
        }

        if (!Digits(t, 0, 4, out var year) || !Digits(t, 5, 2, out var month) || !Digits(t, 8, 2, out var day)
            || !Digits(t, 11, 2, out var hour) || !Digits(t, 14, 2, out var minute) || !Digits(t, 17, 2, out var second)
            || month is < 1 or > 12 || day < 1 || year < 1 || day > DateTime.DaysInMonth(year, month) || hour > 23 || minute > 59 || second > 59)
        {
            return false;
        }

        value = new DateTime(year, month, day, hour, minute, second, DateTimeKind.Utc).AddTicks(ticks);
        return true;
    }

    private static bool Digits(string t, int start, int count, out int number)
    {
        number = 0;
        for (var i = start; i < start + count; i++)
        {
            var d = t[i] - '0';
            if ((uint)d > 9)
            {
                return false;
            }

            number = number * 10 + d;
        }

        return true;
    }

    /// <summary>true/false as exports write them; null for anything else, which the caller reports.</summary>
    public static bool? TryBool(string? text) => text?.Trim().ToLowerInvariant() switch
    {
        "true" or "yes" or "1" or "t" or "y" => true,
        "false" or "no" or "0" or "f" or "n" or "" or null => false,
        _ => null,
    };

    /// <summary>"opted in 2023-04-02 14:03 UTC from 192.0.2.1": only a parsed date and a parsed IP address, so no text from the file gets in.</summary>
    public static string? Event(string verb, DateTime? at, string? ip)
    {
        if (at is null)
        {
            return null;
        }

        var from = IPAddress.TryParse(ip, out var address) ? $" from {address}" : "";
        return string.Create(CultureInfo.InvariantCulture, $"{verb} {at:yyyy-MM-dd HH:mm} UTC{from}");
    }

    /// <summary>
    /// Mailchimp's TAGS cell, a list of quoted names (<c>"Early readers","Paid, yearly"</c>), as our comma-separated
    /// tags: each name whole, so a comma inside one makes one tag ("paid-yearly"), not two. A cell without that
    /// shape is taken as it is.
    /// </summary>
    public static string? QuotedList(string? cell)
    {
        if (cell is null || !cell.TrimStart().StartsWith('"'))
        {
            return cell;
        }

        var names = new List<string>();
        var name = new StringBuilder();
        var quoted = false;
        for (var i = 0; i < cell.Length; i++)
        {
            var c = cell[i];
            if (quoted && c == '"' && i + 1 < cell.Length && cell[i + 1] == '"')
            {
                name.Append('"');
                i++;
            }
            else if (c == '"')
            {
                quoted = !quoted;
            }
            else if (c == ',' && !quoted)
            {
                names.Add(name.ToString());
                name.Clear();
            }
            else
            {
                name.Append(c);
            }
        }

        names.Add(name.ToString());
        return string.Join(',', names.Select(Notes.Tags.Normalize).Where(t => t.Length > 0));
    }

    public static string? Join(params string?[] parts)
    {
        var present = parts.Where(p => p is not null).ToArray();
        return present.Length == 0 ? null : string.Join(", ", present);
    }

    /// <summary>An http(s) address of a reasonable length, as .NET writes it back (escaped), or null.</summary>
    public static string? WebAddress(string? text) =>
        text is { Length: > 0 and <= 200 } && Uri.TryCreate(text, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttps || uri.Scheme == Uri.UriSchemeHttp)
            ? uri.GetLeftPart(UriPartial.Path)
            : null;

    /// <summary>A value quoted back in an error: short, on one line.</summary>
    public static string Shorten(string value)
    {
        var oneLine = new string([.. value.Take(40).Select(c => char.IsControl(c) ? ' ' : c)]);
        return value.Length > 40 ? oneLine + "…" : oneLine;
    }

    [GeneratedRegex(@"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)?) ([+-]\d{2})(\d{2})(?: [A-Za-z]+| [+-]\d{4})?$")]
    private static partial Regex GoTime();
}
