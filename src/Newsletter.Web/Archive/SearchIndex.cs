using System.Net;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Data;
using Newsletter.Web.Data.Providers;

namespace Newsletter.Web.Archive;

public sealed record SearchHit(string Kind, string Url, string TitleHtml, string SnippetHtml, DateTime Date, int? Number);

public sealed record SearchResults(IReadOnlyList<SearchHit> Hits, int Total)
{
    public static SearchResults None { get; } = new([], 0);
}

/// <summary>
/// Full-text search over public notes and issues. It reads the table "SearchIndex" (FTS5 on SQLite, a
/// tsvector under a GIN index on PostgreSQL, through <see cref="SearchSql"/>) that triggers on Notes,
/// NoteTags, Issues and IssueTags keep in step with the content (migrations "Search"): a row exists only
/// while its note or issue is public, so unpublishing removes it in the same transaction.
/// Row ids encode the source: a note's id * 2, an issue's id * 2 + 1.
/// </summary>
public sealed class SearchIndex(AppDbContext db, SearchSql sql)
{
    public async Task<SearchResults> SearchAsync(SearchQuery query, int page, int size, CancellationToken ct)
    {
        var total = await sql.CountAsync(db, query, ct);
        if (total == 0)
        {
            return SearchResults.None;
        }

        var rows = await sql.PageAsync(db, query, size, (page - 1) * size, ct);

        var noteIds = rows.Where(r => r.DocId % 2 == 0).Select(r => (int)(r.DocId / 2)).ToList();
        var issueIds = rows.Where(r => r.DocId % 2 == 1).Select(r => (int)(r.DocId / 2)).ToList();
        // Visibility is checked again against the entities, so a hit can never leak something the pages hide.
        var notes = await PublicContent.Notes(db).Where(n => noteIds.Contains(n.Id))
            .Select(n => new { n.Id, n.Slug, n.Date, Bio = false })
            .Concat(Author.AuthorIdentity.PublishedBio(db).Where(n => noteIds.Contains(n.Id)).Select(n => new { n.Id, n.Slug, n.Date, Bio = true }))
            .ToDictionaryAsync(n => n.Id, ct);
        var issues = await PublicContent.Issues(db).Where(i => issueIds.Contains(i.Id))
            .Select(i => new { i.Id, i.Slug, i.Number, i.PublishedAt }).ToDictionaryAsync(i => i.Id, ct);

        var hits = new List<SearchHit>();
        foreach (var row in rows)
        {
            var id = (int)(row.DocId / 2);
            var snippet = Highlight(row.Body.Contains(SearchSql.Open, StringComparison.Ordinal) || !row.Summary.Contains(SearchSql.Open, StringComparison.Ordinal) ? row.Body : row.Summary);
            if (row.DocId % 2 == 0 && notes.TryGetValue(id, out var note))
            {
                // The bio lives at /about, whatever its slug.
                hits.Add(note.Bio
                    ? new SearchHit("About", "/about", Highlight(row.Title), snippet, note.Date, null)
                    : new SearchHit("Note", $"/notes/{note.Slug}", Highlight(row.Title), snippet, note.Date, null));
            }
            else if (row.DocId % 2 == 1 && issues.TryGetValue(id, out var issue))
            {
                hits.Add(new SearchHit("Issue", $"/issues/{issue.Slug}", Highlight(row.Title), snippet, issue.PublishedAt!.Value, issue.Number));
            }
        }

        return new SearchResults(hits, total);
    }

    public static string Highlight(string text) =>
        WebUtility.HtmlEncode(text).Replace(SearchSql.Open, "<mark>", StringComparison.Ordinal).Replace(SearchSql.Close, "</mark>", StringComparison.Ordinal);
}
