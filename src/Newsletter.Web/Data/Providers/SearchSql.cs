using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Archive;

namespace Newsletter.Web.Data.Providers;

/// <summary>One hit of the search table: DocId is a note's id * 2 or an issue's id * 2 + 1.</summary>
public sealed record SearchRow(long DocId, string Title, string Body, string Summary);

/// <summary>
/// The full-text queries behind Archive/SearchIndex.cs, over the table "SearchIndex" that each migration set
/// keeps by triggers. Highlights come back between <see cref="Open"/> and <see cref="Close"/>, characters
/// that never occur in text, so the caller can HTML-encode the snippet whole before adding its mark tags.
/// </summary>
public abstract class SearchSql
{
    public const string Open = "\u0001";

    public const string Close = "\u0002";

    public abstract Task<int> CountAsync(AppDbContext db, SearchQuery query, CancellationToken ct);

    /// <summary>Best match first: the title weighs most, then tags and summary, then the body; newer first among equals.</summary>
    public abstract Task<List<SearchRow>> PageAsync(AppDbContext db, SearchQuery query, int size, int skip, CancellationToken ct);
}

/// <summary>FTS5 with the porter stemmer, diacritics removed; <see cref="SearchQuery.Fts"/> is already safe FTS5 syntax.</summary>
internal sealed class SqliteSearchSql : SearchSql
{
    public override Task<int> CountAsync(AppDbContext db, SearchQuery query, CancellationToken ct) =>
        db.Database.SqlQuery<int>($"SELECT count(*) AS Value FROM SearchIndex WHERE SearchIndex MATCH {query.Fts}").SingleAsync(ct);

    public override Task<List<SearchRow>> PageAsync(AppDbContext db, SearchQuery query, int size, int skip, CancellationToken ct) =>
        db.Database.SqlQuery<SearchRow>($"""
            SELECT rowid AS DocId,
                   highlight(SearchIndex, 0, char(1), char(2)) AS Title,
                   snippet(SearchIndex, 2, char(1), char(2), '…', 24) AS Body,
                   snippet(SearchIndex, 1, char(1), char(2), '…', 24) AS Summary
            FROM SearchIndex WHERE SearchIndex MATCH {query.Fts}
            ORDER BY bm25(SearchIndex, 8.0, 3.0, 1.0, 4.0), rowid DESC
            LIMIT {size} OFFSET {skip}
            """).ToListAsync(ct);
}

/// <summary>
/// The stored tsvector under its GIN index, in the configuration "newsletter_search" (English stems, accents
/// removed by unaccent). Every term of the query must match, a quoted one as a phrase, and the last word may
/// be the start of a word, as on SQLite: each term goes through phraseto_tsquery, so no input is ever tsquery
/// syntax and operators are searched as words. (websearch_to_tsquery would obey OR and -, and has no prefix.)
/// </summary>
internal sealed class PostgresSearchSql : SearchSql
{
    private const string Config = "'newsletter_search'::regconfig";

    public override Task<int> CountAsync(AppDbContext db, SearchQuery query, CancellationToken ct)
    {
        // Only placeholders and constants are spliced in; the reader's terms are parameters.
        var (tsquery, terms) = TsQuery(query);
        var sql = $"""SELECT count(*)::int AS "Value" FROM "SearchIndex" WHERE "Document" @@ ({tsquery})""";
        return db.Database.SqlQueryRaw<int>(sql, terms).SingleAsync(ct);
    }

    public override async Task<List<SearchRow>> PageAsync(AppDbContext db, SearchQuery query, int size, int skip, CancellationToken ct)
    {
        var (tsquery, terms) = TsQuery(query);
        // One fragment of up to 24 words around the best match, like SQLite's snippet(); the title whole.
        const string snippet = "format('StartSel=%s, StopSel=%s, MaxFragments=1, MaxWords=24, MinWords=10', chr(1), chr(2))";
        const string whole = "format('StartSel=%s, StopSel=%s, HighlightAll=true', chr(1), chr(2))";
        var sql = $$"""
            SELECT s."DocId",
                   ts_headline({{Config}}, replace(s."Title", '<', chr({{AngleStandIn}})), q.query, {{whole}}) AS "Title",
                   ts_headline({{Config}}, replace(s."Body", '<', chr({{AngleStandIn}})), q.query, {{snippet}}) AS "Body",
                   ts_headline({{Config}}, replace(s."Summary", '<', chr({{AngleStandIn}})), q.query, {{snippet}}) AS "Summary"
            FROM (SELECT {{tsquery}} AS query) AS q
            CROSS JOIN LATERAL (
                SELECT "DocId", "Title", "Body", "Summary" FROM "SearchIndex"
                WHERE "Document" @@ q.query
                ORDER BY ts_rank(ARRAY[0.1, 0.2, 0.4, 1.0]::real[], "Document", q.query) DESC, "DocId" DESC
                LIMIT {{{terms.Length}}} OFFSET {{{terms.Length + 1}}}) AS s
            """;
        var rows = await db.Database.SqlQueryRaw<SearchRow>(sql, [.. terms, size, skip]).ToListAsync(ct);
        return [.. rows.Select(r => new SearchRow(r.DocId, Restore(r.Title), Restore(r.Body), Restore(r.Summary)))];
    }

    /// <summary>
    /// PostgreSQL's parser reads text as HTML and drops what looks like a tag (and all of a script) from the
    /// vector and the headline; the text is plain text, so '&lt;' stands in as this control character in both
    /// (migration Search) and comes back here.
    /// </summary>
    private const int AngleStandIn = 3;

    private static string Restore(string text) => text.Replace((char)AngleStandIn, '<');

    /// <summary>The terms as parameters, all required; the last one a prefix when SearchQuery made it one.</summary>
    private static (string Sql, object[] Terms) TsQuery(SearchQuery query)
    {
        var prefixLast = query.Fts.EndsWith(" *", StringComparison.Ordinal);
        var parts = query.Terms.Select((_, i) => i == query.Terms.Count - 1 && prefixLast
            ? $"(SELECT CASE WHEN numnode(t) = 0 THEN t ELSE (t::text || ':*')::tsquery END FROM phraseto_tsquery({Config}, {{{i}}}) AS t)"
            : $"phraseto_tsquery({Config}, {{{i}}})");
        return (string.Join(" && ", parts), [.. query.Terms]);
    }
}
