using Newsletter.Web.Issues;
using Newsletter.Web.Notes;
using Newsletter.Web.Sending;
using Newsletter.Web.Webhooks;

namespace Newsletter.Web.Data.Providers;

/// <summary>
/// The webhook outbox's statements where SQLite and PostgreSQL differ: the claim, and the triggers that write
/// an outbox row in the same transaction as every reader, issue and note change, whoever makes it (EF, the
/// ledger's raw SQL, the importer's bulk statements). The triggers are built from
/// <see cref="WebhookEventTypes"/>, so the mapping from change to event lives once.
/// </summary>
/// <remarks>Claim parameters: @owner, @now, @until, @max, @pending, @sending, @busy (<see cref="Busy"/>). Returns the "Id"s it took.</remarks>
public abstract class WebhookSql
{
    public abstract string Claim { get; }

    /// <summary>The claim's @busy: endpoints whose rows it leaves alone (they hold their share of the POSTs in flight already).</summary>
    public abstract object Busy(IReadOnlyCollection<int> endpointIds);

    /// <summary>Whether the claim would take anything now (@now, @pending, @sending): the pump's look, by the same rule.</summary>
    public string Due => $"""
        SELECT CASE WHEN EXISTS (SELECT 1 FROM "WebhookDeliveries" AS d WHERE d."Status" = @pending AND d."NextAttemptAtMs" <= @now AND {InTurn})
            OR EXISTS (SELECT 1 FROM "WebhookDeliveries" WHERE "Status" = @sending AND "LeaseExpiresAtMs" < @now) THEN 1 ELSE 0 END
        """;

    /// <summary>
    /// A pending row "d" waits while an earlier row of the same reader, issue or note for the same endpoint is still
    /// pending or being sent: a receiver gets one subject's events in the order they happened, a retried one before
    /// any later one (which waits until it is delivered, or fails for good after Webhooks:RetryFor). Each subject
    /// is looked up by its own index, and a column that is NULL matches nothing.
    /// </summary>
    protected static string InTurn => string.Join(" AND ", new[] { "SubscriberId", "IssueId", "NoteId" }.Select(c => $"""
        (d."{c}" IS NULL OR NOT EXISTS (SELECT 1 FROM "WebhookDeliveries" AS b
            WHERE b."{c}" = d."{c}" AND b."EndpointId" = d."EndpointId" AND b."Id" < d."Id" AND b."Status" IN (@pending, @sending)))
        """));

    /// <summary>The indexes <see cref="InTurn"/> looks up issues and notes by (readers have theirs in the model, for erase).</summary>
    public const string CreateTurnIndexes = """
        CREATE INDEX "IX_WebhookDeliveries_IssueId" ON "WebhookDeliveries" ("IssueId") WHERE "IssueId" IS NOT NULL;
        CREATE INDEX "IX_WebhookDeliveries_NoteId" ON "WebhookDeliveries" ("NoteId") WHERE "NoteId" IS NOT NULL;
        """;

    public const string DropTurnIndexes = """
        DROP INDEX "IX_WebhookDeliveries_IssueId";
        DROP INDEX "IX_WebhookDeliveries_NoteId";
        """;

    protected const string Columns = """
        "EndpointId", "EventType", "SubscriberId", "IssueId", "NoteId", "Source", "OccurredAt", "CreatedAt", "Status", "Attempts", "NextAttemptAtMs", "LeaseExpiresAtMs"
        """;

    protected const string Take = """
        UPDATE "WebhookDeliveries"
        SET "Status" = @sending, "LeaseOwner" = @owner, "LeaseExpiresAtMs" = @until, "Attempts" = "Attempts" + 1
        """;

    /// <summary>A SQL CASE over <paramref name="column"/> giving the event type, NULL for changes that are no event.</summary>
    protected static string HistoryCase(string column) =>
        $"CASE {column} " + string.Join(" ", WebhookEventTypes.FromHistory.Select(m => $"WHEN {(int)m.Key} THEN '{m.Value}'")) + " END";

    protected static string IssueCase(string prefix) =>
        $"CASE WHEN {prefix}\"Status\" = {(int)IssueStatus.Paused} AND {prefix}\"PausedReason\" LIKE '{IssueSender.AutomaticPause}%' THEN '{WebhookEventTypes.IssueFailed}' "
        + $"ELSE CASE {prefix}\"Status\" " + string.Join(" ", WebhookEventTypes.FromIssueStatus.Select(m => $"WHEN {(int)m.Key} THEN '{m.Value}'")) + " END END";

    protected static string IssueStates => string.Join(", ", WebhookEventTypes.FromIssueStatus.Keys.Select(k => (int)k));

    protected static string HistoryKinds => string.Join(", ", WebhookEventTypes.FromHistory.Keys.Select(k => (int)k));

    protected static string Wants(string type) => $"""e."Enabled" AND (e."Events" = '*' OR e."Events" LIKE '%,' || {type} || ',%')""";

    protected const int Published = (int)NoteStatus.Published;

    protected const int PlainNote = (int)NoteKind.Note;
}

public sealed class SqliteWebhookSql : WebhookSql
{
    // One statement under SQLite's single write lock: two claimers can never take the same row. Expired leases
    // first (a killed node's rows), then pending rows in event order, each only in its turn.
    public override string Claim => Take + $"""

        WHERE "Id" IN (
            SELECT "Id" FROM (SELECT "Id" FROM "WebhookDeliveries" WHERE "Status" = @sending AND "LeaseExpiresAtMs" < @now AND {NotBusy} LIMIT @max)
            UNION ALL
            SELECT "Id" FROM (SELECT d."Id" FROM "WebhookDeliveries" AS d WHERE d."Status" = @pending AND d."NextAttemptAtMs" <= @now AND {InTurn} AND {NotBusy} ORDER BY d."Id" LIMIT @max)
            LIMIT @max)
        RETURNING "Id"
        """;

    // A JSON array of ids, read by json_each: SQLite has no array parameters.
    private const string NotBusy = """
        "EndpointId" NOT IN (SELECT value FROM json_each(@busy))
        """;

    public override object Busy(IReadOnlyCollection<int> endpointIds) => System.Text.Json.JsonSerializer.Serialize(endpointIds);

    private const string Now = "strftime('%Y-%m-%d %H:%M:%f', 'now')";

    public static string CreateTriggers => $"""
        CREATE TRIGGER "SubscriberEvents_Webhooks" AFTER INSERT ON "SubscriberEvents"
        WHEN NEW."Kind" IN ({HistoryKinds}) AND EXISTS (SELECT 1 FROM "WebhookEndpoints" WHERE "Enabled")
        BEGIN
            INSERT INTO "WebhookDeliveries" ({Columns})
            SELECT e."Id", t."Type", NEW."SubscriberId", NULL, NULL, NEW."Source", NEW."At", NEW."At", 0, 0, 0, 0
            FROM (SELECT {HistoryCase("NEW.\"Kind\"")} AS "Type") AS t JOIN "WebhookEndpoints" AS e ON {Wants("t.\"Type\"")};
        END;

        CREATE TRIGGER "Issues_Webhooks" AFTER UPDATE OF "Status" ON "Issues"
        WHEN NEW."Status" <> OLD."Status" AND NEW."Status" IN ({IssueStates})
        BEGIN
            INSERT INTO "WebhookDeliveries" ({Columns})
            SELECT e."Id", t."Type", NULL, NEW."Id", NULL, NULL, {Now}, {Now}, 0, 0, 0, 0
            FROM (SELECT {IssueCase("NEW.")} AS "Type") AS t JOIN "WebhookEndpoints" AS e ON {Wants("t.\"Type\"")};
        END;

        CREATE TRIGGER "Notes_WebhooksInsert" AFTER INSERT ON "Notes"
        WHEN NEW."Status" = {Published} AND NEW."Kind" = {PlainNote} AND NEW."DeletedAt" IS NULL
        BEGIN
            INSERT INTO "WebhookDeliveries" ({Columns})
            SELECT e."Id", '{WebhookEventTypes.NotePublished}', NULL, NULL, NEW."Id", NULL, {Now}, {Now}, 0, 0, 0, 0
            FROM "WebhookEndpoints" AS e WHERE {Wants($"'{WebhookEventTypes.NotePublished}'")};
        END;

        CREATE TRIGGER "Notes_WebhooksUpdate" AFTER UPDATE OF "Status" ON "Notes"
        WHEN NEW."Status" = {Published} AND OLD."Status" <> {Published} AND NEW."Kind" = {PlainNote} AND NEW."DeletedAt" IS NULL
        BEGIN
            INSERT INTO "WebhookDeliveries" ({Columns})
            SELECT e."Id", '{WebhookEventTypes.NotePublished}', NULL, NULL, NEW."Id", NULL, {Now}, {Now}, 0, 0, 0, 0
            FROM "WebhookEndpoints" AS e WHERE {Wants($"'{WebhookEventTypes.NotePublished}'")};
        END;
        """;

    public const string DropTriggers = """
        DROP TRIGGER IF EXISTS "SubscriberEvents_Webhooks";
        DROP TRIGGER IF EXISTS "Issues_Webhooks";
        DROP TRIGGER IF EXISTS "Notes_WebhooksInsert";
        DROP TRIGGER IF EXISTS "Notes_WebhooksUpdate";
        """;
}

public sealed class PostgresWebhookSql : WebhookSql
{
    // SKIP LOCKED: claimers on every node take disjoint rows without waiting for each other. One OR'ed filter,
    // because PostgreSQL allows no FOR UPDATE under a UNION. A row another node is claiming at this moment is still
    // Pending to this statement, so it holds the later rows of its subject here too.
    public override string Claim => Take + $"""

        WHERE "Id" IN (
            SELECT d."Id" FROM "WebhookDeliveries" AS d
            WHERE ((d."Status" = @pending AND d."NextAttemptAtMs" <= @now AND {InTurn}) OR (d."Status" = @sending AND d."LeaseExpiresAtMs" < @now))
                AND NOT (d."EndpointId" = ANY (@busy))
            ORDER BY d."Id" LIMIT @max FOR UPDATE SKIP LOCKED)
        RETURNING "Id"
        """;

    public override object Busy(IReadOnlyCollection<int> endpointIds) => endpointIds.ToArray();

    // History is written in bulk by imports: one statement trigger over the transition table writes a
    // million outbox rows in one INSERT ... SELECT, and nothing at all when no endpoint is enabled.
    public static string CreateTriggers => $"""
        CREATE FUNCTION "Webhooks_FromHistory"() RETURNS trigger LANGUAGE plpgsql AS $fn$
        BEGIN
            INSERT INTO "WebhookDeliveries" ({Columns})
            SELECT e."Id", t."Type", n."SubscriberId", NULL, NULL, n."Source", n."At", n."At", 0, 0, 0, 0
            FROM new_rows AS n
            CROSS JOIN LATERAL (SELECT {HistoryCase("n.\"Kind\"")} AS "Type") AS t
            JOIN "WebhookEndpoints" AS e ON {Wants("t.\"Type\"")}
            ORDER BY n."Id", e."Id";
            RETURN NULL;
        END
        $fn$;
        CREATE TRIGGER "SubscriberEvents_Webhooks" AFTER INSERT ON "SubscriberEvents"
            REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION "Webhooks_FromHistory"();

        CREATE FUNCTION "Webhooks_FromIssue"() RETURNS trigger LANGUAGE plpgsql AS $fn$
        BEGIN
            INSERT INTO "WebhookDeliveries" ({Columns})
            SELECT e."Id", t."Type", NULL, NEW."Id", NULL, NULL, now(), now(), 0, 0, 0, 0
            FROM (SELECT {IssueCase("NEW.")} AS "Type") AS t JOIN "WebhookEndpoints" AS e ON {Wants("t.\"Type\"")};
            RETURN NULL;
        END
        $fn$;
        CREATE TRIGGER "Issues_Webhooks" AFTER UPDATE OF "Status" ON "Issues" FOR EACH ROW
            WHEN (NEW."Status" IS DISTINCT FROM OLD."Status" AND NEW."Status" IN ({IssueStates})) EXECUTE FUNCTION "Webhooks_FromIssue"();

        CREATE FUNCTION "Webhooks_FromNote"() RETURNS trigger LANGUAGE plpgsql AS $fn$
        BEGIN
            INSERT INTO "WebhookDeliveries" ({Columns})
            SELECT e."Id", '{WebhookEventTypes.NotePublished}', NULL, NULL, NEW."Id", NULL, now(), now(), 0, 0, 0, 0
            FROM "WebhookEndpoints" AS e WHERE {Wants($"'{WebhookEventTypes.NotePublished}'")};
            RETURN NULL;
        END
        $fn$;
        CREATE TRIGGER "Notes_WebhooksInsert" AFTER INSERT ON "Notes" FOR EACH ROW
            WHEN (NEW."Status" = {Published} AND NEW."Kind" = {PlainNote} AND NEW."DeletedAt" IS NULL) EXECUTE FUNCTION "Webhooks_FromNote"();
        CREATE TRIGGER "Notes_WebhooksUpdate" AFTER UPDATE OF "Status" ON "Notes" FOR EACH ROW
            WHEN (NEW."Status" = {Published} AND OLD."Status" <> {Published} AND NEW."Kind" = {PlainNote} AND NEW."DeletedAt" IS NULL) EXECUTE FUNCTION "Webhooks_FromNote"();
        """;

    public const string DropTriggers = """
        DROP TRIGGER IF EXISTS "SubscriberEvents_Webhooks" ON "SubscriberEvents";
        DROP TRIGGER IF EXISTS "Issues_Webhooks" ON "Issues";
        DROP TRIGGER IF EXISTS "Notes_WebhooksInsert" ON "Notes";
        DROP TRIGGER IF EXISTS "Notes_WebhooksUpdate" ON "Notes";
        DROP FUNCTION IF EXISTS "Webhooks_FromHistory"();
        DROP FUNCTION IF EXISTS "Webhooks_FromIssue"();
        DROP FUNCTION IF EXISTS "Webhooks_FromNote"();
        """;
}
