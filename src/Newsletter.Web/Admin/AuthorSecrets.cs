using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Identity.EntityFrameworkCore;
using Newsletter.Web.Data;

namespace Newsletter.Web.Admin;

/// <summary>
/// Identity's store with the second factor's secrets kept unreadable at rest. Identity writes the authenticator
/// key and the recovery codes into AspNetUserTokens in plain text, so a copied database (a backup, a leaked
/// dump) was enough to pass two-factor sign-in. Here the key is encrypted with Data Protection (its keys live
/// apart from the data on SQLite: data/keys, mode 0600) and each recovery code is kept only as a salted PBKDF2
/// hash: the author reads a code once, the app only ever needs to recognise it.
/// </summary>
public sealed class AuthorUserStore(AppDbContext db, IDataProtectionProvider protection, IdentityErrorDescriber? describer = null)
    : UserStore<AppUser, IdentityRole, AppDbContext>(db, describer)
{
    // Identity's own names for the rows it keeps (UserStoreBase's private constants).
    private const string IdentityProvider = "[AspNetUserStore]";
    private const string RecoveryCodesName = "RecoveryCodes";
    private const string HashedPrefix = "pbkdf2:";

    // 40 bits or more per code: a stolen hash list must cost days per code to guess, a sign-in only milliseconds.
    private const int Iterations = 20_000;

    private readonly IDataProtector _key = protection.CreateProtector("Newsletter.Admin.AuthenticatorKey");

    public override async Task SetAuthenticatorKeyAsync(AppUser user, string key, CancellationToken cancellationToken)
    {
        await base.SetAuthenticatorKeyAsync(user, _key.Protect(key), cancellationToken);
        // The row that remembers the last code used exists from the start, so two sign-ins racing with the
        // first code both update it (one loses on the concurrency stamp) instead of both inserting it.
        await SetTokenAsync(user, OneTimeAuthenticatorTokenProvider.Provider, OneTimeAuthenticatorTokenProvider.LastStepName, "0", cancellationToken);
    }

    public override async Task<string?> GetAuthenticatorKeyAsync(AppUser user, CancellationToken cancellationToken)
    {
        var stored = await base.GetAuthenticatorKeyAsync(user, cancellationToken);
        if (string.IsNullOrEmpty(stored))
        {
            return stored;
        }

        try
        {
            return _key.Unprotect(stored);
        }
        catch (CryptographicException)
        {
            // A key an older version stored in plain text: still the author's key. It is encrypted the next
            // time it is set (turning two-factor off and on, or a reset).
            return stored;
        }
    }

    public override Task ReplaceCodesAsync(AppUser user, IEnumerable<string> recoveryCodes, CancellationToken cancellationToken) =>
        SetTokenAsync(user, IdentityProvider, RecoveryCodesName, string.Join(';', recoveryCodes.Select(Hash)), cancellationToken);

    public override async Task<bool> RedeemCodeAsync(AppUser user, string code, CancellationToken cancellationToken)
    {
        var stored = await GetTokenAsync(user, IdentityProvider, RecoveryCodesName, cancellationToken) ?? "";
        var codes = stored.Split(';', StringSplitOptions.RemoveEmptyEntries).ToList();
        var match = codes.FindIndex(c => Matches(c, code));
        if (match < 0)
        {
            return false;
        }

        codes.RemoveAt(match);
        // Saved by the caller (UserManager) with the user's concurrency stamp: of two sign-ins racing with the
        // same code, the second fails to save and is refused.
        await SetTokenAsync(user, IdentityProvider, RecoveryCodesName, string.Join(';', codes), cancellationToken);
        return true;
    }

    private static string Normalize(string code) => new([.. code.Where(char.IsAsciiLetterOrDigit).Select(char.ToUpperInvariant)]);

    private static string Hash(string code)
    {
        var salt = RandomNumberGenerator.GetBytes(16);
        var hash = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(Normalize(code)), salt, Iterations, HashAlgorithmName.SHA256, 32);
        return $"{HashedPrefix}{Convert.ToBase64String(salt)}:{Convert.ToBase64String(hash)}";
    }

    private static bool Matches(string stored, string code)
    {
        if (!stored.StartsWith(HashedPrefix, StringComparison.Ordinal))
        {
            // A code an older version stored in plain text.
            return CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(Normalize(stored)), Encoding.UTF8.GetBytes(Normalize(code)));
        }

        var parts = stored[HashedPrefix.Length..].Split(':');
        if (parts.Length != 2)
        {
            return false;
        }

        var expected = Convert.FromBase64String(parts[1]);
        var actual = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(Normalize(code)), Convert.FromBase64String(parts[0]), Iterations, HashAlgorithmName.SHA256, expected.Length);
        return CryptographicOperations.FixedTimeEquals(expected, actual);
    }
}

/// <summary>
/// TOTP (RFC 6238, what every authenticator app speaks) where each code signs in once. Identity's own provider
/// accepts the same code again for as long as its window lasts (up to two and a half minutes), so a code read
/// over a shoulder or phished in real time worked a second time. The last accepted time step is kept with the
/// author and only later steps are accepted; it is saved under the user's concurrency stamp, so of two
/// requests racing with one code only one gets in.
/// </summary>
public sealed class OneTimeAuthenticatorTokenProvider(TimeProvider clock) : IUserTwoFactorTokenProvider<AppUser>
{
    internal const string Provider = "[Newsletter]";
    internal const string LastStepName = "TotpLastStep";

    // One step either side: a phone whose clock is 30 s off still works, and a code lives at most 90 s.
    private const int Window = 1;

    public Task<string> GenerateAsync(string purpose, UserManager<AppUser> manager, AppUser user) => Task.FromResult("");

    public async Task<bool> CanGenerateTwoFactorTokenAsync(UserManager<AppUser> manager, AppUser user) =>
        !string.IsNullOrEmpty(await manager.GetAuthenticatorKeyAsync(user));

    public async Task<bool> ValidateAsync(string purpose, string token, UserManager<AppUser> manager, AppUser user)
    {
        var key = await manager.GetAuthenticatorKeyAsync(user);
        if (string.IsNullOrEmpty(key) || token.Length != 6 || !token.All(char.IsAsciiDigit) || Base32Decode(key) is not { } secret)
        {
            return false;
        }

        var now = clock.GetUtcNow().ToUnixTimeSeconds() / 30;
        var step = -1L;
        for (var s = now - Window; s <= now + Window; s++)
        {
            if (CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Code(secret, s)), Encoding.ASCII.GetBytes(token)))
            {
                step = s;
            }
        }

        if (step < 0)
        {
            return false;
        }

        var last = await manager.GetAuthenticationTokenAsync(user, Provider, LastStepName);
        if (long.TryParse(last, NumberStyles.None, CultureInfo.InvariantCulture, out var used) && step <= used)
        {
            return false; // this code, or a later one, has signed in already
        }

        var saved = await manager.SetAuthenticationTokenAsync(user, Provider, LastStepName, step.ToString(CultureInfo.InvariantCulture));
        return saved.Succeeded;
    }

    internal static string Code(byte[] secret, long step)
    {
        Span<byte> counter = stackalloc byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(counter, step);
        Span<byte> hash = stackalloc byte[20];
        HMACSHA1.HashData(secret, counter, hash);
        var offset = hash[^1] & 0x0f;
        var value = ((hash[offset] & 0x7f) << 24 | hash[offset + 1] << 16 | hash[offset + 2] << 8 | hash[offset + 3]) % 1_000_000;
        return value.ToString("D6", CultureInfo.InvariantCulture);
    }

    internal static byte[]? Base32Decode(string text)
    {
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        var output = new List<byte>(text.Length * 5 / 8);
        int buffer = 0, bits = 0;
        foreach (var c in text.TrimEnd('='))
        {
            var v = alphabet.IndexOf(char.ToUpperInvariant(c), StringComparison.Ordinal);
            if (v < 0)
            {
                return null;
            }

            buffer = (buffer << 5) | v;
            bits += 5;
            if (bits >= 8)
            {
                bits -= 8;
                output.Add((byte)(buffer >> bits));
                buffer &= (1 << bits) - 1;
            }
        }

        return [.. output];
    }
}
