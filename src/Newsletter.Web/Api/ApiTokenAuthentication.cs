using System.Globalization;
using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Newsletter.Web.Api;

/// <summary>
/// The "ApiToken" authentication scheme: <c>Authorization: Bearer nl_...</c>. It is the only scheme on /api,
/// and it is never tried anywhere else unless a policy names it (the metrics policy may), so a token opens no
/// admin page and a session cookie opens no API endpoint.
/// </summary>
public sealed class ApiTokenAuthentication(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, ApiTokens tokens)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiToken";

    /// <summary>
    /// One claim per scope the token holds, with the scope's lower-case name ("read", "send", "metrics"). A policy
    /// outside /api accepts tokens by naming the scheme: for /metrics,
    /// <c>p.AddAuthenticationSchemes(SchemeName).RequireClaim(ScopeClaim, "metrics")</c>.
    /// </summary>
    public const string ScopeClaim = "scope";

    /// <summary>The scopes the token was made with, before its author's role narrowed them (<see cref="ScopeClaim"/>).</summary>
    public const string GrantedScopeClaim = "granted_scope";

    /// <summary>The token's id, for per-token rate limits and logs.</summary>
    public const string TokenIdClaim = "newsletter:token";

    /// <summary>The author who made the token (AspNetUsers.Id).</summary>
    public const string AuthorClaim = "newsletter:author";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var header = Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return AuthenticateResult.NoResult();
        }

        var token = await tokens.FindActiveAsync(header["Bearer ".Length..].Trim(), Context.RequestAborted);
        var role = token is null ? null : await tokens.AuthorRoleAsync(token, Context.RequestAborted);
        if (token is null || role is null)
        {
            // The same answer for unknown, revoked, expired, malformed and an author who is gone or suspended:
            // a guesser learns nothing.
            return AuthenticateResult.Fail("The token is unknown, revoked or expired.");
        }

        var claims = new List<Claim>
        {
            new(ClaimTypes.NameIdentifier, "token:" + token.Id.ToString(CultureInfo.InvariantCulture)),
            new(ClaimTypes.Name, token.Name),
            new(TokenIdClaim, token.Id.ToString(CultureInfo.InvariantCulture)),
            new(AuthorClaim, token.CreatedById),
        };
        // No more than the author's role allows today: a writer's token that was given "send" can't send.
        claims.AddRange(ScopeNames(token.Scopes & Newsletter.Web.Admin.AuthorPolicies.Scopes(role.Value)).Select(s => new Claim(ScopeClaim, s)));
        // What the token was made with, only to say why a request is refused: "lacks the scope" for a scope the token
        // has but its author's role no longer allows sent the caller to make a new token that would not help.
        claims.AddRange(ScopeNames(token.Scopes).Select(s => new Claim(GrantedScopeClaim, s)));
        claims.Add(new Claim(Newsletter.Web.Admin.AuthorPolicies.RoleClaim, role.Value.ToString()));
        var principal = new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName));
        return AuthenticateResult.Success(new AuthenticationTicket(principal, SchemeName));
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = StatusCodes.Status401Unauthorized;
        // RFC 6750: say which scheme, and whether a token was given and refused.
        Response.Headers.WWWAuthenticate = Request.Headers.Authorization.Count == 0 ? "Bearer" : "Bearer error=\"invalid_token\"";
        return Task.CompletedTask;
    }

    public static IEnumerable<string> ScopeNames(ApiScopes scopes) =>
        Enum.GetValues<ApiScopes>().Where(s => s != ApiScopes.None && scopes.HasFlag(s)).Select(Name);

    public static string Name(ApiScopes scope) => scope.ToString().ToLowerInvariant();
}
