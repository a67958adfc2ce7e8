using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;
using Newsletter.Web.Data;
using Newsletter.Web.Sending;
using static Newsletter.Tests.Sending.SendingFixture;

namespace Newsletter.Tests.Sending;

/// <summary>
/// The outcome writer hands one <see cref="Ledger"/> group after group: every group's values must reach only its
/// own rows (a code, an error or an array left from an earlier group would be written into the wrong reader's
/// row), whether the connection stays open across groups, as the writer holds it, or is opened for each.
/// </summary>
public class LedgerWriteTests
{
    [Fact]
    public async Task OneLedgerWritesGroupAfterGroupEachWithOnlyItsOwnValues()
    {
        await using var hand = await LedgerByHandAsync(8);
        var (app, db, ledger, issueId) = (hand.App, hand.Db, hand.Ledger, hand.IssueId);
        var owner = $"test-writer/{Guid.NewGuid():N}";
        var rows = ledger.Claim(issueId, owner, 8);
        Assert.Equal(8, rows.Count);
        OwnedOutcome Outcome(int i, DeliveryStatus status, int? code, string? error, long next = 0) =>
            new(owner, new DeliveryOutcome(rows[i].Id, rows[i].SubscriberId, status, code, error, next, false));

        // Groups 1 and 2 as the outcome writer runs them: its connection held open across commits.
        await db.Database.OpenConnectionAsync(Ct);

        // Group 1: two outcomes (one with an error), the next row marked in flight.
        var marked = ledger.Write([Outcome(0, DeliveryStatus.Sent, 250, null), Outcome(1, DeliveryStatus.Deferred, 451, "4.7.1 try later", 9_000_000_000_000)], [(owner, rows[2].Id)]);
        Assert.Equal([rows[2].Id], marked);

        // Group 2: fewer outcomes than the first (an array or parameter left over would show), no error, two marks,
        // one of them another owner's row: only the one still ours comes back.
        marked = ledger.Write([Outcome(2, DeliveryStatus.Sent, 250, null)], [(owner, rows[3].Id), ($"someone-else/{Guid.NewGuid():N}", rows[4].Id)]);
        Assert.Equal([rows[3].Id], marked);

        // From here each write opens and closes the connection, and other connections take pooled handles
        // between writes.
        await db.Database.CloseConnectionAsync();
        await using var others = app.Services.CreateAsyncScope();
        var other = others.ServiceProvider.GetRequiredService<AppDbContext>();
        await other.Database.OpenConnectionAsync(Ct);

        // Group 3: a failure without a code, and a late outcome from an owner who lost the row: not written.
        var stranger = new OwnedOutcome($"someone-else/{Guid.NewGuid():N}", new DeliveryOutcome(rows[5].Id, rows[5].SubscriberId, DeliveryStatus.Sent, 250, null, 0, false));
        ledger.Write([Outcome(3, DeliveryStatus.Failed, null, "550 no such user"), stranger], []);
        if (db.Database.GetDbConnection() is Microsoft.Data.Sqlite.SqliteConnection sqlite)
        {
            // Closes the pool's idle handles, as its idle pruning does by itself.
            Microsoft.Data.Sqlite.SqliteConnection.ClearPool(sqlite);
        }

        // Group 4: marks only, then outcomes only.
        Assert.Equal([rows[6].Id, rows[7].Id], ledger.Write([], [(owner, rows[6].Id), (owner, rows[7].Id)]).Order());
        ledger.Write([Outcome(6, DeliveryStatus.Sent, 250, null), Outcome(7, DeliveryStatus.Sent, 251, null)], []);

        // Group 5: held open again, on another physical connection than groups 1 and 2 (that one was closed by the
        // pool): on SQLite the statements kept from then must not run on it, and are made again on this one.
        await other.Database.CloseConnectionAsync();
        await db.Database.OpenConnectionAsync(Ct);
        marked = ledger.Write([Outcome(4, DeliveryStatus.Sent, 252, null)], [(owner, rows[5].Id)]);
        Assert.Equal([rows[5].Id], marked);
        await db.Database.CloseConnectionAsync();

        var after = (await DeliveriesAsync(app, issueId)).ToDictionary(d => d.Id);
        void Expect(int i, DeliveryStatus status, int? code, string? error, bool inFlight, string? leaseOwner)
        {
            var d = after[rows[i].Id];
            Assert.Equal((status, code, error, inFlight, leaseOwner), (d.Status, d.SmtpCode, d.LastError, d.InFlight, d.LeaseOwner));
        }

        Expect(0, DeliveryStatus.Sent, 250, null, false, null);
        Expect(1, DeliveryStatus.Deferred, 451, "4.7.1 try later", false, null);
        Assert.Equal(9_000_000_000_000, after[rows[1].Id].NextAttemptAtMs);
        Expect(2, DeliveryStatus.Sent, 250, null, false, null);
        Expect(3, DeliveryStatus.Failed, null, "550 no such user", false, null);
        Expect(4, DeliveryStatus.Sent, 252, null, false, null);
        Expect(5, DeliveryStatus.Sending, null, null, true, owner);
        Expect(6, DeliveryStatus.Sent, 250, null, false, null);
        Expect(7, DeliveryStatus.Sent, 251, null, false, null);
        Assert.All(new[] { 0, 2, 4, 6, 7 }, i => Assert.NotNull(after[rows[i].Id].SentAtMs));
        Assert.All(new[] { 1, 3, 5 }, i => Assert.Null(after[rows[i].Id].SentAtMs));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task AGroupWhoseOutcomesCannotBeWrittenStartsNoMessage(bool heldOpen)
    {
        // The marks and the outcomes of a group commit are one: if the outcomes fail, a mark written anyway
        // would let a worker start a message the writer has reported as failed (on PostgreSQL both go in one
        // batch, which must roll back as a whole). The database refuses one row's outcome by a trigger.
        await using var hand = await LedgerByHandAsync(3);
        var (app, db, ledger, issueId) = (hand.App, hand.Db, hand.Ledger, hand.IssueId);
        var owner = $"test-writer/{Guid.NewGuid():N}";
        var rows = ledger.Claim(issueId, owner, 3);
        if (heldOpen)
        {
            // As the outcome writer holds it: on SQLite the group goes through statements kept on the connection.
            await db.Database.OpenConnectionAsync(Ct);
        }

        Assert.True(ledger.Write([], [(owner, rows[0].Id)]).SetEquals([rows[0].Id]));
        var refused = rows[0].Id;
        await db.Database.ExecuteSqlRawAsync(db.Database.IsNpgsql()
            ? $$"""
                CREATE FUNCTION refuse_outcome() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN RAISE EXCEPTION 'outcome refused'; END $f$;
                CREATE TRIGGER refuse_outcome BEFORE UPDATE ON "Deliveries" FOR EACH ROW WHEN (OLD."Id" = {{refused}} AND NEW."InFlight" = FALSE) EXECUTE FUNCTION refuse_outcome();
                """
            : $"""
                CREATE TRIGGER refuse_outcome BEFORE UPDATE ON "Deliveries" FOR EACH ROW WHEN OLD."Id" = {refused} AND NEW."InFlight" = 0
                BEGIN SELECT RAISE(ABORT, 'outcome refused'); END;
                """, Ct);

        var sent = new OwnedOutcome(owner, new DeliveryOutcome(refused, rows[0].SubscriberId, DeliveryStatus.Sent, 250, null, 0, false));
        var e = Assert.ThrowsAny<Exception>(() => ledger.Write([sent], [(owner, rows[1].Id)]));
        Assert.Contains("outcome refused", e.ToString(), StringComparison.Ordinal);

        var after = (await DeliveriesAsync(app, issueId)).ToDictionary(d => d.Id);
        Assert.Equal((DeliveryStatus.Sending, true), (after[refused].Status, after[refused].InFlight));
        Assert.Equal((DeliveryStatus.Sending, false, owner), (after[rows[1].Id].Status, after[rows[1].Id].InFlight, after[rows[1].Id].LeaseOwner));

        // Nothing is left half-done on the connection: the next group writes.
        await db.Database.ExecuteSqlRawAsync(db.Database.IsNpgsql() ? """DROP TRIGGER refuse_outcome ON "Deliveries"; DROP FUNCTION refuse_outcome();""" : "DROP TRIGGER refuse_outcome", Ct);
        Assert.True(ledger.Write([sent], [(owner, rows[1].Id)]).SetEquals([rows[1].Id]));
        after = (await DeliveriesAsync(app, issueId)).ToDictionary(d => d.Id);
        Assert.Equal(DeliveryStatus.Sent, after[refused].Status);
        Assert.True(after[rows[1].Id].InFlight);
    }
}
