using System.Security.Cryptography;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Data;

namespace Newsletter.Web.Api;

/// <summary>A token just made: the secret, which exists only in this object and in the author's copy.</summary>
public sealed record NewApiToken(ApiToken Token, string Secret);

/// <summary>
/// Makes, checks and revokes API tokens. A token is "nl_" and 64 hex digits (256 random bits): the prefix lets
/// secret scanners and people recognise it, and so much entropy needs no slow hash, so SHA-256 of it is the
/// lookup key and a request costs one read by a unique index.
/// </summary>
public sealed class ApiTokens(AppDbContext db, TimeProvider clock)
{
    public const string SecretPrefix = "nl_";

    /// <summary>How stale LastUsedAt may be: a busy token writes once a minute, not once a request.</summary>
    public static readonly TimeSpan LastUsedResolution = TimeSpan.FromMinutes(1);

    public async Task<NewApiToken> CreateAsync(string name, ApiScopes scopes, DateTime? expiresAt, string authorId, string authorName, CancellationToken ct)
    {
        var secret = SecretPrefix + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        var token = new ApiToken
        {
            Name = name,
            Prefix = secret[..(SecretPrefix.Length + 6)],
            Hash = HashOf(secret),
            Scopes = scopes,
            CreatedById = authorId,
            CreatedByName = authorName,
            CreatedAt = clock.GetUtcNow().UtcDateTime,
            ExpiresAt = expiresAt,
        };
        db.ApiTokens.Add(token);
        await db.SaveChangesAsync(ct);
        return new NewApiToken(token, secret);
    }

    /// <summary>Revokes at once, on every node: the next request with it reads the row and is refused. False when already revoked or unknown.</summary>
    public async Task<bool> RevokeAsync(int id, string byName, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        return await db.ApiTokens.Where(t => t.Id == id && t.RevokedAt == null)
            .ExecuteUpdateAsync(u => u.SetProperty(t => t.RevokedAt, now).SetProperty(t => t.RevokedByName, byName), ct) == 1;
    }

    /// <summary>The active token with this secret, or null; notes the use at most once per <see cref="LastUsedResolution"/>.</summary>
    public async Task<ApiToken?> FindActiveAsync(string secret, CancellationToken ct)
    {
        if (!LooksLikeToken(secret))
        {
            return null; // not worth a query: a typo, another system's token, or a probe
        }

        var hash = HashOf(secret);
        var token = await db.ApiTokens.AsNoTracking().FirstOrDefaultAsync(t => t.Hash == hash, ct);
        var now = clock.GetUtcNow().UtcDateTime;
        if (token is null || !token.IsActive(now))
        {
            return null;
        }

        if (token.LastUsedAt is null || token.LastUsedAt <= now - LastUsedResolution)
        {
            var stale = now - LastUsedResolution;
            // Conditional, so two nodes that both see a stale time write it once.
            await db.ApiTokens.Where(t => t.Id == token.Id && (t.LastUsedAt == null || t.LastUsedAt <= stale))
                .ExecuteUpdateAsync(u => u.SetProperty(t => t.LastUsedAt, now), ct);
        }

        return token;
    }

    /// <summary>
    /// The role of the token's author, read on every request; null when the author was removed or is suspended,
    /// so their tokens stop at once, on every node, without anyone revoking them one by one.
    /// </summary>
    public async Task<Newsletter.Web.Admin.AuthorRole?> AuthorRoleAsync(ApiToken token, CancellationToken ct)
    {
        var author = await db.Users.AsNoTracking().Where(u => u.Id == token.CreatedById).Select(u => new { u.Role, u.SuspendedAt }).FirstOrDefaultAsync(ct);
        return author is { SuspendedAt: null } ? author.Role : null;
    }

    public static bool LooksLikeToken(string secret) =>
        secret.Length == SecretPrefix.Length + 64 && secret.StartsWith(SecretPrefix, StringComparison.Ordinal) && secret.AsSpan(SecretPrefix.Length).ContainsAnyExcept("0123456789abcdef") == false;

    public static string HashOf(string secret) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));
}
