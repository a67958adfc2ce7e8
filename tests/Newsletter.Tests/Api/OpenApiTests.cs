using System.Net;
using System.Text.Json;
using Newsletter.Testing;
using Newsletter.Web.Api;
using static Newsletter.Tests.Api.ApiClients;

namespace Newsletter.Tests.Api;

public class OpenApiTests
{
    private static readonly string[] Methods = ["get", "put", "post", "delete", "patch"];

    [Fact]
    public async Task ARequestBodyListsAsRequiredOnlyWhatTheApiRefusesWithout()
    {
        // The generator listed every constructor parameter: IssueWrite had seven required fields although
        // {"subject": "..."} alone makes an issue, and a client generated from the document demanded them all.
        using var app = new NewsletterApp();
        var document = await GetJsonAsync(await ClientAsync(app, ApiScopes.Read), "/openapi/v1.json");
        var schemas = document.GetProperty("components").GetProperty("schemas");
        string[] Required(string name) => schemas.GetProperty(name).TryGetProperty("required", out var r) ? [.. r.EnumerateArray().Select(e => e.GetString()!)] : [];
        Assert.Equal(["email"], Required("SubscriberCreate"));
        Assert.Equal(["email"], Required("SuppressionCreate"));
        Assert.Empty(Required("IssueWrite"));
        Assert.Empty(Required("NoteWrite"));
        Assert.Empty(Required("SubscriberUpdate"));

        // And what it says is optional is: the API takes a body without it.
        var api = await ClientAsync(app, ApiScopes.Read | ApiScopes.Write);
        var (created, body) = await PostJsonAsync(api, "/api/v1/subscribers", new { email = "only.email@example.org" });
        Assert.True(created.StatusCode == HttpStatusCode.Created, body.ToString());
        var (issue, issueBody) = await PostJsonAsync(api, "/api/v1/issues", new { subject = "Only a subject" });
        Assert.True(issue.StatusCode == HttpStatusCode.Created, issueBody.ToString());
    }

    /// <summary>An endpoint added without a summary, a description, its answers or its scope fails here, naming itself.</summary>
    [Fact]
    public async Task EveryApiOperationIsDescribedWithItsResponsesAndTheBearerScheme()
    {
        using var app = new NewsletterApp();
        var document = await GetJsonAsync(await ClientAsync(app, ApiScopes.Read), "/openapi/v1.json");

        var scheme = document.GetProperty("components").GetProperty("securitySchemes").GetProperty("bearer");
        Assert.Equal("http", scheme.GetProperty("type").GetString());
        Assert.Equal("bearer", scheme.GetProperty("scheme").GetString());

        var gaps = new List<string>();
        var count = 0;
        foreach (var path in document.GetProperty("paths").EnumerateObject())
        {
            if (!path.Name.StartsWith("/api/v1/", StringComparison.Ordinal))
            {
                gaps.Add($"{path.Name}: outside /api/v1");
                continue;
            }

            foreach (var operation in path.Value.EnumerateObject().Where(o => Methods.Contains(o.Name)))
            {
                count++;
                var name = $"{operation.Name.ToUpperInvariant()} {path.Name}";
                var op = operation.Value;
                if (!op.TryGetProperty("summary", out var summary) || string.IsNullOrWhiteSpace(summary.GetString()))
                {
                    gaps.Add($"{name}: no summary");
                }

                if (!op.TryGetProperty("description", out var description) || string.IsNullOrWhiteSpace(description.GetString()))
                {
                    gaps.Add($"{name}: no description");
                }

                if (!op.TryGetProperty("security", out var security) || !security.EnumerateArray().Any(r => r.TryGetProperty("bearer", out var scopes) && scopes.GetArrayLength() > 0))
                {
                    gaps.Add($"{name}: no bearer requirement with its scope");
                }

                var responses = op.TryGetProperty("responses", out var r) ? r.EnumerateObject().ToDictionary(x => x.Name, x => x.Value) : [];
                var success = responses.Where(x => x.Key.StartsWith('2')).ToList();
                if (success.Count == 0)
                {
                    gaps.Add($"{name}: no success response");
                }

                foreach (var (status, response) in success.Where(x => x.Key != "204"))
                {
                    if (!response.TryGetProperty("content", out var content) || !content.EnumerateObject().Any(c => c.Value.TryGetProperty("schema", out _)))
                    {
                        gaps.Add($"{name}: {status} has no response type");
                    }
                }

                foreach (var problem in new[] { "401", "403", "429" })
                {
                    if (!responses.ContainsKey(problem))
                    {
                        gaps.Add($"{name}: {problem} not documented");
                    }
                }

                if (path.Name.Contains('{', StringComparison.Ordinal) && !responses.ContainsKey("404"))
                {
                    gaps.Add($"{name}: takes an id but documents no 404");
                }
            }
        }

        Assert.True(gaps.Count == 0, string.Join(Environment.NewLine, gaps));
        Assert.True(count >= 30, $"only {count} operations");
    }

    [Fact]
    public async Task TheDocumentIsForAuthorsAndTokensAndTheReferenceForSignedInAuthorsOnly()
    {
        using var app = new NewsletterApp();
        var anonymous = app.CreateBrowserClient();
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/openapi/v1.json", Ct)).StatusCode);
        var reference = await anonymous.GetAsync("/admin/api-reference", Ct);
        Assert.Equal(HttpStatusCode.Redirect, reference.StatusCode);

        await Forms.SetUpOwnerAsync(anonymous);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/openapi/v1.json", Ct)).StatusCode);
        var page = await anonymous.GetAsync("/admin/api-reference", Ct);
        var html = await page.Content.ReadAsStringAsync(Ct);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);

        // Every script the page loads comes from this app: Scalar's bundle from the package, the starter from wwwroot.
        var scripts = System.Text.RegularExpressions.Regex.Matches(html, "<script[^>]*src=\"([^\"]+)\"").Select(m => m.Groups[1].Value).ToList();
        Assert.NotEmpty(scripts);
        Assert.All(scripts, s => Assert.StartsWith("/", s, StringComparison.Ordinal));
        Assert.DoesNotContain("<script>", html, StringComparison.Ordinal);
        foreach (var script in scripts)
        {
            var response = await anonymous.GetAsync(script, Ct);
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{script}: {(int)response.StatusCode}");
        }

        var csp = page.Headers.GetValues("Content-Security-Policy").Single();
        Assert.Contains("script-src 'self';", csp, StringComparison.Ordinal);
        Assert.Contains("connect-src 'self'", csp, StringComparison.Ordinal);
    }
}
