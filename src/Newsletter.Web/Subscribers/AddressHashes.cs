using System.Buffers;
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

    /// <summary>
    /// A hasher for one thread's many addresses (an import): it keeps its SHA-256 and HMAC contexts and resets them after
    /// each address, where the one-shot calls above make both afresh and OpenSSL looks the HMAC algorithm up by name
    /// each time (a million-row import spent 4 % of its thread in libcrypto that way). Not thread-safe.
    /// </summary>
    public Hasher NewHasher() => new(Key);

    public sealed class Hasher(byte[] key) : IDisposable
    {
        private readonly IncrementalHash _sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        private readonly IncrementalHash _hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key);

        /// <summary>The same value as <see cref="AddressHashes.Of"/>, for an address already made its key (<see cref="Subscriber.KeyOf"/>).</summary>
        public string OfKey(string key)
        {
            var max = Encoding.UTF8.GetMaxByteCount(key.Length);
            var rented = max > 1024 ? ArrayPool<byte>.Shared.Rent(max) : null;
            try
            {
                Span<byte> utf8 = rented ?? stackalloc byte[1024];
                _sha.AppendData(utf8[..Encoding.UTF8.GetBytes(key, utf8)]);
                Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
                _sha.GetHashAndReset(digest);
                _hmac.AppendData(digest);
                Span<byte> mac = stackalloc byte[SHA256.HashSizeInBytes];
                _hmac.GetHashAndReset(mac);
                return Convert.ToHexStringLower(mac);
            }
            finally
            {
                if (rented is not null)
                {
                    ArrayPool<byte>.Shared.Return(rented);
                }
            }
        }

        public void Dispose()
        {
            _sha.Dispose();
            _hmac.Dispose();
        }
    }

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
