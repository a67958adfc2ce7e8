using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Newsletter.Web.Data.Migrations;

/// <summary>
/// The published bio is searchable like a note (a reader looking for the author's field or former employer
/// finds /about). No column changes: the note triggers learn that Kind 1 (Bio) can be public, and the bio that
/// is already published enters the index.
/// </summary>
[DbContext(typeof(AppDbContext))]
[Migration("20261202130000_BioIsSearchable")]
public sealed class BioIsSearchable : Migration
{
    // NoteKind: Note = 0, Bio = 1. NoteStatus: Published = 1.
    private const string NoteIsPublic = "new.Kind IN (0, 1) AND new.Status = 1 AND new.DeletedAt IS NULL";

    private const string OldNoteIsPublic = "new.Kind = 0 AND new.Status = 1 AND new.DeletedAt IS NULL";

    protected override void Up(MigrationBuilder migrationBuilder)
    {
        Replace(migrationBuilder, NoteIsPublic);
        migrationBuilder.Sql($"""
            INSERT INTO SearchIndex(rowid, Title, Summary, Body, Tags)
            SELECT {Row("n.")} FROM Notes AS n WHERE {NoteIsPublic.Replace("new.", "n.", StringComparison.Ordinal)}
                AND NOT EXISTS (SELECT 1 FROM SearchIndex WHERE rowid = n.Id * 2);
            """);
    }

    protected override void Down(MigrationBuilder migrationBuilder)
    {
        Replace(migrationBuilder, OldNoteIsPublic);
        migrationBuilder.Sql("DELETE FROM SearchIndex WHERE rowid % 2 = 0 AND rowid / 2 IN (SELECT Id FROM Notes WHERE Kind = 1);");
    }

    private static string Row(string alias) =>
        $"{alias}Id * 2, {alias}Title, {alias}Summary, {alias}PlainText, (SELECT coalesce(group_concat(Tag, ' '), '') FROM NoteTags WHERE NoteId = {alias}Id)";

    private static void Replace(MigrationBuilder migrationBuilder, string isPublic)
    {
        migrationBuilder.Sql("DROP TRIGGER IF EXISTS Notes_SearchInsert; DROP TRIGGER IF EXISTS Notes_SearchUpdate;");
        migrationBuilder.Sql($"""
            CREATE TRIGGER Notes_SearchInsert AFTER INSERT ON Notes WHEN {isPublic}
            BEGIN
                INSERT INTO SearchIndex(rowid, Title, Summary, Body, Tags) VALUES ({Row("new.")});
            END;
            """);
        migrationBuilder.Sql($"""
            CREATE TRIGGER Notes_SearchUpdate AFTER UPDATE ON Notes
            BEGIN
                DELETE FROM SearchIndex WHERE rowid = old.Id * 2;
                INSERT INTO SearchIndex(rowid, Title, Summary, Body, Tags) SELECT {Row("new.")} WHERE {isPublic};
            END;
            """);
    }
}
