using System.Net;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Data;

namespace Newsletter.Web.Archive;

public sealed record SearchHit(string Kind, string Url, string TitleHtml, string SnippetHtml, DateTime Date, int? Number);

public sealed record SearchResults(IReadOnlyList<SearchHit> Hits, int Total)
{
    public static SearchResults None { get; } = new([], 0);
}

/// <summary>
/// Full-text search over public notes and issues. On SQLite it reads the FTS5 table "SearchIndex" that
/// triggers on Notes, NoteTags, Issues and IssueTags keep in step with the content (migration "Search"):
/// a row exists only while its note or issue is public, so unpublishing removes it in the same transaction.
/// Rowids encode the source: a note's id * 2, an issue's id * 2 + 1.
/// </summary>
public sealed class SearchIndex(AppDbContext db)
{
    // Control characters that never occur in text mark the highlights, so the snippet can be HTML-encoded
    // whole and only then given its <mark> tags: content can never inject markup through a snippet.
    private const string Open = "\u0001";
    private const string Close = "\u0002";

    public async Task<SearchResults> SearchAsync(SearchQuery query, int page, int size, CancellationToken ct)
    {
        if (!db.Database.IsSqlite())
        {
            return await SearchWithoutIndexAsync(query, page, size, ct);
        }

        var fts = query.Fts;
        var total = await db.Database.SqlQuery<int>($"SELECT count(*) AS Value FROM SearchIndex WHERE SearchIndex MATCH {fts}").SingleAsync(ct);
        if (total == 0)
        {
            return SearchResults.None;
        }

        var skip = (page - 1) * size;
        var rows = await db.Database.SqlQuery<IndexRow>($"""
            SELECT rowid AS DocId,
                   highlight(SearchIndex, 0, char(1), char(2)) AS Title,
                   snippet(SearchIndex, 2, char(1), char(2), '…', 24) AS Body,
                   snippet(SearchIndex, 1, char(1), char(2), '…', 24) AS Summary
            FROM SearchIndex WHERE SearchIndex MATCH {fts}
            ORDER BY bm25(SearchIndex, 8.0, 3.0, 1.0, 4.0), rowid DESC
            LIMIT {size} OFFSET {skip}
            """).ToListAsync(ct);

        var noteIds = rows.Where(r => r.DocId % 2 == 0).Select(r => (int)(r.DocId / 2)).ToList();
        var issueIds = rows.Where(r => r.DocId % 2 == 1).Select(r => (int)(r.DocId / 2)).ToList();
        // Visibility is checked again against the entities, so a hit can never leak something the pages hide.
        var notes = await PublicContent.Notes(db).Where(n => noteIds.Contains(n.Id))
            .Select(n => new { n.Id, n.Slug, n.Date }).ToDictionaryAsync(n => n.Id, ct);
        var issues = await PublicContent.Issues(db).Where(i => issueIds.Contains(i.Id))
            .Select(i => new { i.Id, i.Slug, i.Number, i.PublishedAt }).ToDictionaryAsync(i => i.Id, ct);

        var hits = new List<SearchHit>();
        foreach (var row in rows)
        {
            var id = (int)(row.DocId / 2);
            var snippet = Highlight(row.Body.Contains(Open, StringComparison.Ordinal) || !row.Summary.Contains(Open, StringComparison.Ordinal) ? row.Body : row.Summary);
            if (row.DocId % 2 == 0 && notes.TryGetValue(id, out var note))
            {
                hits.Add(new SearchHit("Note", $"/notes/{note.Slug}", Highlight(row.Title), snippet, note.Date, null));
            }
            else if (row.DocId % 2 == 1 && issues.TryGetValue(id, out var issue))
            {
                hits.Add(new SearchHit("Issue", $"/issues/{issue.Slug}", Highlight(row.Title), snippet, issue.PublishedAt!.Value, issue.Number));
            }
        }

        return new SearchResults(hits, total);
    }

    public static string Highlight(string text) =>
        WebUtility.HtmlEncode(text).Replace(Open, "<mark>", StringComparison.Ordinal).Replace(Close, "</mark>", StringComparison.Ordinal);

    /// <summary>
    /// Databases without FTS5 (PostgreSQL) get a plain substring match on titles and summaries until they
    /// have an index of their own: slower and unranked, but the same visibility rules.
    /// </summary>
    private async Task<SearchResults> SearchWithoutIndexAsync(SearchQuery query, int page, int size, CancellationToken ct)
    {
        var term = query.Terms[0];
        var notes = await PublicContent.Notes(db).Where(n => n.Title.Contains(term) || n.Summary.Contains(term))
            .Select(n => new { n.Slug, n.Title, n.Summary, n.Date }).ToListAsync(ct);
        var issues = await PublicContent.Issues(db).Where(i => i.Subject.Contains(term) || i.Summary.Contains(term))
            .Select(i => new { i.Slug, i.Subject, i.Summary, i.Number, i.PublishedAt }).ToListAsync(ct);
        var all = notes.Select(n => new SearchHit("Note", $"/notes/{n.Slug}", WebUtility.HtmlEncode(n.Title), WebUtility.HtmlEncode(n.Summary), n.Date, null))
            .Concat(issues.Select(i => new SearchHit("Issue", $"/issues/{i.Slug}", WebUtility.HtmlEncode(i.Subject), WebUtility.HtmlEncode(i.Summary), i.PublishedAt!.Value, i.Number)))
            .OrderByDescending(h => h.Date).ToList();
        return new SearchResults([.. all.Skip((page - 1) * size).Take(size)], all.Count);
    }

    private sealed record IndexRow(long DocId, string Title, string Body, string Summary);
}
