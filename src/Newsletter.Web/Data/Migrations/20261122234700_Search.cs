using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Newsletter.Web.Data.Migrations;

/// <summary>
/// Full-text search over public notes and issues (Archive/SearchIndex.cs). A regular FTS5 table rather than
/// an external-content one: its text comes from two tables plus their tags, and snippet() needs the text,
/// which an external-content table could only read back through a UNION view with no usable index.
/// Triggers keep it in step inside the same transaction as the change, so a note or issue that stops being
/// public leaves search at once. A row's rowid encodes its source: note id * 2, issue id * 2 + 1.
/// The visibility rules match PublicContent.Notes and PublicIssues.Visible; search re-checks them anyway.
/// </summary>
public partial class Search : Migration
{
    private const string NoteIsPublic = "new.Kind = 0 AND new.Status = 1 AND new.DeletedAt IS NULL";

    // IssueStatus: Sending = 3, Sent = 4, Paused = 5.
    private const string IssueIsPublic = "new.PublishedAt IS NOT NULL AND new.EmailOnly = 0 AND new.DeletedAt IS NULL AND new.Status IN (3, 4, 5)";

    private const string NoteTags = "(SELECT coalesce(group_concat(Tag, ' '), '') FROM NoteTags WHERE NoteId = {0})";

    private const string IssueTags = "(SELECT coalesce(group_concat(Tag, ' '), '') FROM IssueTags WHERE IssueId = {0})";

    protected override void Up(MigrationBuilder migrationBuilder)
    {
        if (!migrationBuilder.IsSqlite())
        {
            return;
        }

        migrationBuilder.Sql("""
            CREATE VIRTUAL TABLE SearchIndex USING fts5(Title, Summary, Body, Tags, tokenize = 'porter unicode61 remove_diacritics 2');
            """);

        var noteRow = $"new.Id * 2, new.Title, new.Summary, new.PlainText, {string.Format(null, NoteTags, "new.Id")}";
        migrationBuilder.Sql($"""
            CREATE TRIGGER Notes_SearchInsert AFTER INSERT ON Notes WHEN {NoteIsPublic}
            BEGIN
                INSERT INTO SearchIndex(rowid, Title, Summary, Body, Tags) VALUES ({noteRow});
            END;
            """);
        migrationBuilder.Sql($"""
            CREATE TRIGGER Notes_SearchUpdate AFTER UPDATE ON Notes
            BEGIN
                DELETE FROM SearchIndex WHERE rowid = old.Id * 2;
                INSERT INTO SearchIndex(rowid, Title, Summary, Body, Tags) SELECT {noteRow} WHERE {NoteIsPublic};
            END;
            """);
        migrationBuilder.Sql("""
            CREATE TRIGGER Notes_SearchDelete AFTER DELETE ON Notes
            BEGIN
                DELETE FROM SearchIndex WHERE rowid = old.Id * 2;
            END;
            """);
        migrationBuilder.Sql($"""
            CREATE TRIGGER NoteTags_SearchInsert AFTER INSERT ON NoteTags
            BEGIN
                UPDATE SearchIndex SET Tags = {string.Format(null, NoteTags, "new.NoteId")} WHERE rowid = new.NoteId * 2;
            END;
            """);
        migrationBuilder.Sql($"""
            CREATE TRIGGER NoteTags_SearchDelete AFTER DELETE ON NoteTags
            BEGIN
                UPDATE SearchIndex SET Tags = {string.Format(null, NoteTags, "old.NoteId")} WHERE rowid = old.NoteId * 2;
            END;
            """);

        foreach (var sql in IssueTriggers(IssueIsPublic))
        {
            migrationBuilder.Sql(sql);
        }

        migrationBuilder.Sql("""
            CREATE TRIGGER Issues_SearchDelete AFTER DELETE ON Issues
            BEGIN
                DELETE FROM SearchIndex WHERE rowid = old.Id * 2 + 1;
            END;
            """);
        migrationBuilder.Sql($"""
            CREATE TRIGGER IssueTags_SearchInsert AFTER INSERT ON IssueTags
            BEGIN
                UPDATE SearchIndex SET Tags = {string.Format(null, IssueTags, "new.IssueId")} WHERE rowid = new.IssueId * 2 + 1;
            END;
            """);
        migrationBuilder.Sql($"""
            CREATE TRIGGER IssueTags_SearchDelete AFTER DELETE ON IssueTags
            BEGIN
                UPDATE SearchIndex SET Tags = {string.Format(null, IssueTags, "old.IssueId")} WHERE rowid = old.IssueId * 2 + 1;
            END;
            """);

        // Whatever is already public goes in now; the triggers take it from here.
        migrationBuilder.Sql($"""
            INSERT INTO SearchIndex(rowid, Title, Summary, Body, Tags)
            SELECT {noteRow.Replace("new.", "n.", StringComparison.Ordinal)} FROM Notes AS n WHERE {NoteIsPublic.Replace("new.", "n.", StringComparison.Ordinal)};
            """);
        migrationBuilder.Sql(IssueBackfill(IssueIsPublic));
    }

    private static string IssueRow => $"new.Id * 2 + 1, new.Subject, new.Summary, new.PlainText, {string.Format(null, IssueTags, "new.Id")}";

    /// <summary>The triggers that keep an issue's search row in step, for a given visibility rule (CancelledIssuesKeepTheirPage changes it).</summary>
    internal static string[] IssueTriggers(string isPublic) =>
    [
        $"""
        CREATE TRIGGER Issues_SearchInsert AFTER INSERT ON Issues WHEN {isPublic}
        BEGIN
            INSERT INTO SearchIndex(rowid, Title, Summary, Body, Tags) VALUES ({IssueRow});
        END;
        """,
        $"""
        CREATE TRIGGER Issues_SearchUpdate AFTER UPDATE ON Issues
        BEGIN
            DELETE FROM SearchIndex WHERE rowid = old.Id * 2 + 1;
            INSERT INTO SearchIndex(rowid, Title, Summary, Body, Tags) SELECT {IssueRow} WHERE {isPublic};
        END;
        """,
    ];

    /// <summary>Puts every issue that is public under the rule into the index, leaving rows already there.</summary>
    internal static string IssueBackfill(string isPublic) => $"""
        INSERT INTO SearchIndex(rowid, Title, Summary, Body, Tags)
        SELECT {IssueRow.Replace("new.", "i.", StringComparison.Ordinal)} FROM Issues AS i WHERE {isPublic.Replace("new.", "i.", StringComparison.Ordinal)}
            AND NOT EXISTS (SELECT 1 FROM SearchIndex WHERE rowid = i.Id * 2 + 1);
        """;

    protected override void Down(MigrationBuilder migrationBuilder)
    {
        if (!migrationBuilder.IsSqlite())
        {
            return;
        }

        foreach (var trigger in new[]
        {
            "Notes_SearchInsert", "Notes_SearchUpdate", "Notes_SearchDelete", "NoteTags_SearchInsert", "NoteTags_SearchDelete",
            "Issues_SearchInsert", "Issues_SearchUpdate", "Issues_SearchDelete", "IssueTags_SearchInsert", "IssueTags_SearchDelete",
        })
        {
            migrationBuilder.Sql($"DROP TRIGGER IF EXISTS {trigger};");
        }

        migrationBuilder.Sql("DROP TABLE IF EXISTS SearchIndex;");
    }
}
