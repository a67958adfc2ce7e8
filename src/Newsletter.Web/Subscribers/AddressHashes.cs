using System.Security.Cryptography;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Data;
using Newsletter.Web.Infrastructure;

namespace Newsletter.Web.Subscribers;

/// <summary>
/// What an erased or suppressed address leaves behind: a hash that can match the address when it comes back
/// (a subscribe, an import), never be read. A plain SHA-256 of the address could be read by anyone holding a
/// list of addresses (hash the list, compare), so the hash is an HMAC with a key this installation made
/// (<see cref="InstallationKeys"/>, shared by every node). It is taken over the SHA-256 of the address, which
/// is what older versions stored: those rows are upgraded in place, without knowing the addresses.
/// </summary>
public sealed class AddressHashes(InstallationKeys keys)
{
    private const string KeyName = "address-hash";

    private byte[] Key => keys.Get(KeyName);

    public string Of(string email) => Keyed(Key, SHA256.HashData(Encoding.UTF8.GetBytes(Subscriber.KeyOf(email))));

    private static string Keyed(byte[] key, byte[] digest) => Convert.ToHexStringLower(HMACSHA256.HashData(key, digest));

    /// <summary>
    /// Makes the key if there is none yet, and re-keys the suppressions an older version wrote as plain SHA-256 (the migration that added
    /// <see cref="Suppression.LegacyHash"/> flagged them). Each row is changed under its flag, so two nodes
    /// starting together can't key one row twice.
    /// </summary>
    public async Task UpgradeLegacyAsync(AppDbContext db, ILogger logger, CancellationToken ct)
    {
        // The key is made here, at start-up, on a connection of its own: made on first use instead, it could be
        // inside a write transaction (a bounce in the ledger's), which on SQLite would wait for itself.
        _ = Key;
        var upgraded = 0;
        while (true)
        {
            var batch = await db.Suppressions.AsNoTracking().Where(s => s.LegacyHash).OrderBy(s => s.Id).Select(s => new { s.Id, s.EmailHash }).Take(1000).ToListAsync(ct);
            if (batch.Count == 0)
            {
                break;
            }

            await using var tx = await db.Database.BeginTransactionAsync(ct);
            foreach (var row in batch)
            {
                var hash = Keyed(Key, Convert.FromHexString(row.EmailHash));
                upgraded += await db.Suppressions.Where(s => s.Id == row.Id && s.LegacyHash)
                    .ExecuteUpdateAsync(u => u.SetProperty(s => s.EmailHash, hash).SetProperty(s => s.LegacyHash, false), ct);
            }

            await tx.CommitAsync(ct);
        }

        if (upgraded > 0)
        {
            logger.LogInformation("Re-keyed {Count} suppressed address hashes from plain SHA-256 to this installation's HMAC", upgraded);
        }
    }
}
