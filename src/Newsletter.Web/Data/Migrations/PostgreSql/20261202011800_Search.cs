using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Newsletter.Web.Issues;
using Newsletter.Web.Notes;

#nullable disable

namespace Newsletter.Web.Data.Migrations.PostgreSql;

/// <summary>
/// Full-text search over public notes and issues, the PostgreSQL form of the SQLite set's FTS5 table: one row
/// per public note (DocId = id * 2) or issue (id * 2 + 1) with its text, kept by triggers in the same
/// transaction as the change, and a stored tsvector (title first, then tags and summary, then body) under a
/// GIN index (Data/Providers/SearchSql.cs queries it). The text stays beside the vector because ts_headline needs it.
/// The visibility rules match PublicContent.Notes and PublicIssues.Visible; search re-checks them anyway.
/// </summary>
[DbContext(typeof(AppDbContext))]
[Migration("20261202011800_Search")]
public sealed class Search : Migration
{
    private static readonly string NoteIsPublic =
        $"""NEW."Kind" = {(int)NoteKind.Note} AND NEW."Status" = {(int)NoteStatus.Published} AND NEW."DeletedAt" IS NULL""";

    private static readonly string IssueIsPublic =
        $"""NEW."PublishedAt" IS NOT NULL AND NOT NEW."EmailOnly" AND NEW."DeletedAt" IS NULL AND NEW."Status" IN ({(int)IssueStatus.Sending}, {(int)IssueStatus.Sent}, {(int)IssueStatus.Paused})""";

    protected override void Up(MigrationBuilder migrationBuilder)
    {
        // English stems with accents removed, so "cafe" finds "café". unaccent ships with PostgreSQL and is a
        // trusted extension: the database's owner may create it.
        migrationBuilder.Sql("""
            CREATE EXTENSION IF NOT EXISTS unaccent;
            CREATE TEXT SEARCH CONFIGURATION newsletter_search (COPY = english);
            ALTER TEXT SEARCH CONFIGURATION newsletter_search
                ALTER MAPPING FOR hword, hword_part, word WITH unaccent, english_stem;
            """);
        // The text is plain text, but PostgreSQL's parser reads it as HTML: it drops anything that looks like a
        // tag, and everything inside <script>, from the vector and from ts_headline. So '<' becomes a control
        // character first, here and in the headline (Data/Providers/SearchSql.cs), which puts it back.
        migrationBuilder.Sql("""
            CREATE TABLE "SearchIndex" (
                "DocId" bigint PRIMARY KEY,
                "Title" text NOT NULL,
                "Summary" text NOT NULL,
                "Body" text NOT NULL,
                "Tags" text NOT NULL,
                "Document" tsvector GENERATED ALWAYS AS (
                    setweight(to_tsvector('newsletter_search'::regconfig, replace("Title", '<', chr(3))), 'A') ||
                    setweight(to_tsvector('newsletter_search'::regconfig, replace("Tags", '<', chr(3))), 'B') ||
                    setweight(to_tsvector('newsletter_search'::regconfig, replace("Summary", '<', chr(3))), 'B') ||
                    setweight(to_tsvector('newsletter_search'::regconfig, replace("Body", '<', chr(3))), 'D')) STORED
            );
            CREATE INDEX "IX_SearchIndex_Document" ON "SearchIndex" USING GIN ("Document");
            """);

        migrationBuilder.Sql(Source("Notes", "NoteTags", "NoteId", "0", "Title", NoteIsPublic));
        migrationBuilder.Sql(Source("Issues", "IssueTags", "IssueId", "1", "Subject", IssueIsPublic));
        // No backfill: this set begins with Initial, so the tables are empty when the triggers arrive.
    }

    protected override void Down(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.Sql("""
            DROP TRIGGER IF EXISTS "Notes_Search" ON "Notes";
            DROP TRIGGER IF EXISTS "NoteTags_Search" ON "NoteTags";
            DROP TRIGGER IF EXISTS "Issues_Search" ON "Issues";
            DROP TRIGGER IF EXISTS "IssueTags_Search" ON "IssueTags";
            DROP FUNCTION IF EXISTS "Notes_Search"();
            DROP FUNCTION IF EXISTS "NoteTags_Search"();
            DROP FUNCTION IF EXISTS "Issues_Search"();
            DROP FUNCTION IF EXISTS "IssueTags_Search"();
            DROP TABLE IF EXISTS "SearchIndex";
            DROP TEXT SEARCH CONFIGURATION IF EXISTS newsletter_search;
            """);
    }

    /// <summary>The triggers for one source table and its tags: a row in, out or rewritten on every change.</summary>
    private static string Source(string table, string tagTable, string tagKey, string parity, string title, string isPublic)
    {
        var tags = Tags(tagTable, tagKey);
        return $$"""
            {{Function(table, tagTable, tagKey, parity, title, isPublic)}}
            CREATE TRIGGER "{{table}}_Search" AFTER INSERT OR UPDATE OR DELETE ON "{{table}}"
                FOR EACH ROW EXECUTE FUNCTION "{{table}}_Search"();

            CREATE FUNCTION "{{tagTable}}_Search"() RETURNS trigger LANGUAGE plpgsql AS $fn$
            DECLARE
                owner bigint := CASE WHEN TG_OP = 'DELETE' THEN OLD."{{tagKey}}" ELSE NEW."{{tagKey}}" END;
            BEGIN
                UPDATE "SearchIndex" SET "Tags" = {{string.Format(null, tags, "owner")}} WHERE "DocId" = owner * 2 + {{parity}};
                RETURN NULL;
            END
            $fn$;
            CREATE TRIGGER "{{tagTable}}_Search" AFTER INSERT OR UPDATE OR DELETE ON "{{tagTable}}"
                FOR EACH ROW EXECUTE FUNCTION "{{tagTable}}_Search"();
            """;
    }

    private static string Tags(string tagTable, string tagKey) =>
        $$"""(SELECT coalesce(string_agg("Tag", ' ' ORDER BY "Tag"), '') FROM "{{tagTable}}" WHERE "{{tagKey}}" = {0})""";

    /// <summary>The row trigger's function for a given visibility rule; CancelledIssuesKeepTheirPage replaces the issues' one.</summary>
    internal static string Function(string table, string tagTable, string tagKey, string parity, string title, string isPublic)
    {
        var tags = Tags(tagTable, tagKey);
        return $$"""
            CREATE OR REPLACE FUNCTION "{{table}}_Search"() RETURNS trigger LANGUAGE plpgsql AS $fn$
            BEGIN
                IF TG_OP <> 'INSERT' THEN
                    DELETE FROM "SearchIndex" WHERE "DocId" = OLD."Id" * 2 + {{parity}};
                END IF;
                IF TG_OP <> 'DELETE' AND {{isPublic}} THEN
                    INSERT INTO "SearchIndex" ("DocId", "Title", "Summary", "Body", "Tags")
                    VALUES (NEW."Id" * 2 + {{parity}}, NEW."{{title}}", NEW."Summary", NEW."PlainText", {{string.Format(null, tags, "NEW.\"Id\"")}});
                END IF;
                RETURN NULL;
            END
            $fn$;
            """;
    }
}
