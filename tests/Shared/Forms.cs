#if NEWSLETTER_WEB
using System.Net;
using System.Text.RegularExpressions;

namespace Newsletter.Testing;

/// <summary>Drives the app's HTML forms the way a browser does: GET the page, keep the antiforgery token, POST.</summary>
public static partial class Forms
{
    public static async Task<string> TokenAsync(HttpClient client, string url)
    {
        var html = await client.GetStringAsync(url);
        return Token(html) ?? throw new InvalidOperationException($"No antiforgery token on {url}");
    }

    public static string? Token(string html)
    {
        var m = TokenRegex().Match(html);
        return m.Success ? WebUtility.HtmlDecode(m.Groups[1].Value) : null;
    }

    public static async Task<HttpResponseMessage> PostAsync(HttpClient client, string pageUrl, IDictionary<string, string> fields, string? postUrl = null)
    {
        var token = await TokenAsync(client, pageUrl);
        var form = new Dictionary<string, string>(fields) { ["__RequestVerificationToken"] = token };
        return await client.PostAsync(postUrl ?? pageUrl, new FormUrlEncodedContent(form));
    }

    /// <summary>Runs first-time setup and leaves the client signed in as the owner.</summary>
    public static async Task SetUpOwnerAsync(HttpClient client, string email = "owner@example.org", string password = "correct horse battery staple")
    {
        var response = await PostAsync(client, "/admin/setup", new Dictionary<string, string>
        {
            ["Input.DisplayName"] = "Owner",
            ["Input.Email"] = email,
            ["Input.Password"] = password,
        });
        if (response.StatusCode != HttpStatusCode.Redirect)
        {
            throw new InvalidOperationException($"Setup failed: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
    }

    [GeneratedRegex("name=\"__RequestVerificationToken\" type=\"hidden\" value=\"([^\"]+)\"")]
    private static partial Regex TokenRegex();
}
#endif
