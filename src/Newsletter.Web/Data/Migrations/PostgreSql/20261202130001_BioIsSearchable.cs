using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Newsletter.Web.Notes;

#nullable disable

namespace Newsletter.Web.Data.Migrations.PostgreSql;

/// <summary>
/// The published bio is searchable like a note (a reader looking for the author's field or former employer
/// finds /about). No column changes: the note trigger learns that a Bio can be public, and the bio that is
/// already published enters the index.
/// </summary>
[DbContext(typeof(AppDbContext))]
[Migration("20261202130001_BioIsSearchable")]
public sealed class BioIsSearchable : Migration
{
    private static string IsPublic(params NoteKind[] kinds) =>
        $"""NEW."Kind" IN ({string.Join(", ", kinds.Select(k => (int)k))}) AND NEW."Status" = {(int)NoteStatus.Published} AND NEW."DeletedAt" IS NULL""";

    protected override void Up(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.Sql(Search.Function("Notes", "NoteTags", "NoteId", "0", "Title", IsPublic(NoteKind.Note, NoteKind.Bio)));
        // The published bio enters the index: touching it runs the new trigger.
        migrationBuilder.Sql($"""UPDATE "Notes" SET "Kind" = "Kind" WHERE "Kind" = {(int)NoteKind.Bio};""");
    }

    protected override void Down(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.Sql(Search.Function("Notes", "NoteTags", "NoteId", "0", "Title", IsPublic(NoteKind.Note)));
        migrationBuilder.Sql($"""UPDATE "Notes" SET "Kind" = "Kind" WHERE "Kind" = {(int)NoteKind.Bio};""");
    }
}
