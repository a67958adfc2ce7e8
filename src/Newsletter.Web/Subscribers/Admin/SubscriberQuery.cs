using Newsletter.Web.Data;

namespace Newsletter.Web.Subscribers.Admin;

/// <summary>The list's filters, shared by the page and the CSV export so "export this view" means exactly that.</summary>
public sealed record SubscriberQuery(string? Q, SubscriberStatus? Status, string? Tag)
{
    public static SubscriberQuery From(HttpRequest request)
    {
        var q = request.Query["q"].ToString().Trim();
        SubscriberStatus? status = Enum.TryParse<SubscriberStatus>(request.Query["status"], ignoreCase: true, out var s) && Enum.IsDefined(s) ? s : null;
        var tag = Notes.Tags.Normalize(request.Query["tag"].ToString());
        return new SubscriberQuery(q.Length == 0 ? null : q[..Math.Min(q.Length, 254)], status, tag.Length == 0 ? null : tag);
    }

    public IQueryable<Subscriber> Apply(AppDbContext db)
    {
        var query = db.Subscribers.AsQueryable();
        if (Status is { } status)
        {
            query = query.Where(s => s.Status == status);
        }

        if (Tag is { } tag)
        {
            query = query.Where(s => db.SubscriberTags.Any(t => t.SubscriberId == s.Id && t.Tag == tag));
        }

        if (Q is { } q)
        {
            var key = q.ToLowerInvariant();
            if (key.StartsWith('@'))
            {
                // A domain ("@example.com"): every address that ends in it.
                query = query.Where(s => s.EmailKey.EndsWith(key));
            }
            else if (key.Contains('@', StringComparison.Ordinal))
            {
                // Clearly an address: a range on the unique EmailKey index finds it at any list size,
                // where the name search below reads every row.
                var end = key + "\U0010FFFF";
                query = query.Where(s => string.Compare(s.EmailKey, key) >= 0 && string.Compare(s.EmailKey, end) < 0);
            }
            else
            {
                // Any part of an address (a domain, "big42") or of a name: the name's search reads every row
                // already, so the address's costs nothing more; it found only an address's first letters.
                query = query.Where(s => s.EmailKey.Contains(key) || (s.Name != null && s.Name.Contains(q)));
            }
        }

        return query;
    }

    public string ToQueryString(long? before = null)
    {
        var parts = new List<string>();
        if (Q is not null)
        {
            parts.Add("q=" + Uri.EscapeDataString(Q));
        }

        if (Status is not null)
        {
            parts.Add("status=" + Status.ToString()!.ToLowerInvariant());
        }

        if (Tag is not null)
        {
            parts.Add("tag=" + Uri.EscapeDataString(Tag));
        }

        if (before is not null)
        {
            parts.Add("before=" + before);
        }

        return parts.Count == 0 ? "" : "?" + string.Join('&', parts);
    }
}
