using System.Globalization;
using Microsoft.EntityFrameworkCore;

namespace Newsletter.Web.Notes;

/// <summary>
/// A slug made from a title that another note or issue already has: "weekly-notes" becomes "weekly-notes-2", then
/// "-3", as Ghost and Buttondown do. Two issues called "Weekly notes" are ordinary; refusing the second until the
/// author invents an address is not. A slug the author typed is never changed: that one is refused when taken.
/// </summary>
public static class FreeSlug
{
    /// <param name="others">The slugs of every other item of the kind (not the one being saved).</param>
    /// <param name="made">The slug made from the title.</param>
    /// <param name="current">The item's slug now: one already numbered from <paramref name="made"/> keeps its number, so a save does not move it.</param>
    public static async Task<string> FindAsync(IQueryable<string> others, string made, string? current, CancellationToken ct)
    {
        var prefix = made + "-";
        if (current is not null && current.StartsWith(prefix, StringComparison.Ordinal)
            && int.TryParse(current.AsSpan(prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var own) && own >= 2
            && !await others.AnyAsync(s => s == current, ct))
        {
            return current;
        }

        var taken = (await others.Where(s => s == made || s.StartsWith(prefix)).ToListAsync(ct)).ToHashSet(StringComparer.Ordinal);
        if (!taken.Contains(made))
        {
            return made;
        }

        var n = 2;
        while (taken.Contains(prefix + n.ToString(CultureInfo.InvariantCulture)))
        {
            n++;
        }

        return prefix + n.ToString(CultureInfo.InvariantCulture);
    }
}
