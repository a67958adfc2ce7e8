using System.Security.Cryptography;
using System.Text;

namespace Newsletter.Web.Webhooks;

/// <summary>Standard Webhooks signatures: "v1," + base64 HMAC-SHA256 of "id.timestamp.body", keyed by the secret's bytes.</summary>
public static class WebhookSigner
{
    public const string SecretPrefix = "whsec_";

    public static string NewSecret() => SecretPrefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    public static string Sign(string secret, string id, long timestamp, string body)
    {
        var key = Convert.FromBase64String(secret.StartsWith(SecretPrefix, StringComparison.Ordinal) ? secret[SecretPrefix.Length..] : secret);
        var mac = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes($"{id}.{timestamp}.{body}"));
        return "v1," + Convert.ToBase64String(mac);
    }

    /// <summary>The header value: one signature per live secret, space-separated, as the spec allows during a rotation.</summary>
    public static string Header(WebhookEndpoint endpoint, DateTime now, string id, long timestamp, string body)
    {
        var signature = Sign(endpoint.Secret, id, timestamp, body);
        return endpoint.PreviousSecret is { } old && endpoint.PreviousSecretUntil > now ? signature + " " + Sign(old, id, timestamp, body) : signature;
    }
}
