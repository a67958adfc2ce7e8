using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Newsletter.Web.Data.Migrations.PostgreSql;

/// <summary>
/// Uploaded imports and their errors live in the database on PostgreSQL (Data/Providers/ImportFiles.cs), so the
/// node that runs an import's job need not be the node that took the upload. Not entities: only that class reads
/// and writes them, by the megabyte, and SQLite keeps files in data/imports instead.
/// </summary>
[DbContext(typeof(AppDbContext))]
[Migration("20261206100000_ImportFiles")]
public sealed class ImportFiles : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.Sql("""
            CREATE TABLE "ImportFiles" (
                "Name" text PRIMARY KEY,
                "Length" bigint NOT NULL,
                "CreatedAt" timestamptz NOT NULL DEFAULT now());
            CREATE TABLE "ImportFileChunks" (
                "Name" text NOT NULL REFERENCES "ImportFiles" ("Name") ON DELETE CASCADE,
                "Seq" integer NOT NULL,
                "Data" bytea NOT NULL,
                PRIMARY KEY ("Name", "Seq"));
            -- Megabyte chunks, read once: compressing them would cost CPU on every upload for bytes soon deleted.
            ALTER TABLE "ImportFileChunks" ALTER COLUMN "Data" SET STORAGE EXTERNAL;
            """);
    }

    protected override void Down(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.Sql("""DROP TABLE "ImportFileChunks"; DROP TABLE "ImportFiles";""");
    }
}
