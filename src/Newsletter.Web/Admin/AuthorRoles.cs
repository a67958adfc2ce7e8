using System.Security.Claims;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.Filters;
using Microsoft.Extensions.Options;
using Newsletter.Web.Api;
using Newsletter.Web.Data;

namespace Newsletter.Web.Admin;

/// <summary>What an author may do. Stored by name, so the database reads the same as the admin.</summary>
public enum AuthorRole
{
    /// <summary>Everything, including authors, settings, webhooks, exports and erasure.</summary>
    Owner,

    /// <summary>Writes, sends and schedules; adds and imports readers.</summary>
    Editor,

    /// <summary>Writes notes and drafts issues; sends nothing to readers.</summary>
    Writer,

    /// <summary>Reads the admin; changes nothing.</summary>
    Viewer,
}

/// <summary>
/// The permissions, as authorization policies: one rule per permission, held here, used by pages, endpoints and
/// the API alike. A policy names the roles that hold it; the session (or the API token's author) carries its
/// role as a claim that is read from the database on every request.
/// </summary>
public static class AuthorPolicies
{
    /// <summary>The role claim; re-issued with the security stamp check on each request, so a change shows at once.</summary>
    public const string RoleClaim = "newsletter:role";

    /// <summary>Any active author: read the admin.</summary>
    public const string Read = AdminExtensions.AuthorPolicy;

    /// <summary>Write notes, draft issues, upload images.</summary>
    public const string Write = "author:write";

    /// <summary>Send, schedule, pause, resume, cancel, retry, test-send: mail leaves for real addresses.</summary>
    public const string Send = "author:send";

    /// <summary>Add, change and import readers (not export or erase them).</summary>
    public const string Readers = "author:readers";

    /// <summary>Authors, settings, webhooks, others' API tokens, exports, erasure, the audit log.</summary>
    public const string Owner = AdminExtensions.OwnerPolicy;

    public static readonly IReadOnlyDictionary<string, AuthorRole[]> Holders = new Dictionary<string, AuthorRole[]>
    {
        [Read] = [AuthorRole.Owner, AuthorRole.Editor, AuthorRole.Writer, AuthorRole.Viewer],
        [Write] = [AuthorRole.Owner, AuthorRole.Editor, AuthorRole.Writer],
        [Send] = [AuthorRole.Owner, AuthorRole.Editor],
        [Readers] = [AuthorRole.Owner, AuthorRole.Editor],
        [Owner] = [AuthorRole.Owner],
    };

    public static bool Allows(this AuthorRole role, string policy) => Holders[policy].Contains(role);

    /// <summary>True when the signed-in author (or the token's author) may use <paramref name="policy"/>: for hiding buttons.</summary>
    public static bool May(this ClaimsPrincipal user, string policy) =>
        user.FindFirst(RoleClaim)?.Value is { } name && Enum.TryParse<AuthorRole>(name, out var role) && role.Allows(policy);

    /// <summary>The API scopes a token of an author in this role keeps: a writer's token with "send" can't send.</summary>
    public static ApiScopes Scopes(this AuthorRole role) => role switch
    {
        AuthorRole.Owner => ApiScopes.Read | ApiScopes.Write | ApiScopes.Send | ApiScopes.Metrics,
        AuthorRole.Editor => ApiScopes.Read | ApiScopes.Write | ApiScopes.Send | ApiScopes.Metrics,
        AuthorRole.Writer => ApiScopes.Read | ApiScopes.Write | ApiScopes.Metrics,
        _ => ApiScopes.Read | ApiScopes.Metrics,
    };

    public static string Describe(AuthorRole role) => role switch
    {
        AuthorRole.Owner => "everything: authors, settings, webhooks, exports, erasure, the audit log",
        AuthorRole.Editor => "writes, sends and schedules issues, adds and imports readers",
        AuthorRole.Writer => "writes notes and drafts issues; can't send",
        _ => "reads the admin; changes nothing",
    };

    public static AuthorizationBuilder AddAuthorPolicies(this AuthorizationBuilder policies)
    {
        foreach (var (name, roles) in Holders)
        {
            var names = roles.Select(r => r.ToString()).ToArray();
            policies.AddPolicy(name, p => p.RequireAuthenticatedUser().RequireClaim(RoleClaim, names));
        }

        return policies;
    }
}

/// <summary>
/// Puts a page handler behind a policy. Razor Pages ignore [Authorize] on handler methods, so this filter reads
/// the attribute; an admin POST handler that names none needs <see cref="AuthorPolicies.Write"/>, so a viewer is
/// read-only by default and a new handler is never open to everyone by accident.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class RequiresAttribute(string policy) : Attribute
{
    public string Policy { get; } = policy;
}

internal sealed class HandlerAuthorizationFilter(IAuthorizationService authorization) : IAsyncPageFilter
{
    public Task OnPageHandlerSelectionAsync(PageHandlerSelectedContext context) => Task.CompletedTask;

    public async Task OnPageHandlerExecutionAsync(PageHandlerExecutingContext context, PageHandlerExecutionDelegate next)
    {
        var http = context.HttpContext;
        var policy = context.HandlerMethod?.MethodInfo.GetCustomAttributes(typeof(RequiresAttribute), false).OfType<RequiresAttribute>().FirstOrDefault()?.Policy;
        var anonymous = context.ActionDescriptor.EndpointMetadata.OfType<Microsoft.AspNetCore.Authorization.IAllowAnonymous>().Any();
        if (policy is null && !anonymous && !HttpMethods.IsGet(http.Request.Method) && !HttpMethods.IsHead(http.Request.Method)
            && http.Request.Path.StartsWithSegments("/admin", StringComparison.OrdinalIgnoreCase))
        {
            policy = AuthorPolicies.Write;
        }

        if (policy is not null && !(await authorization.AuthorizeAsync(http.User, policy)).Succeeded)
        {
            // The friendly 403 page (status code pages), not a bounce to the login form the author is already past.
            context.Result = new StatusCodeResult(StatusCodes.Status403Forbidden);
            return;
        }

        await next();
    }
}

/// <summary>
/// Identity's sign-in rules plus one: a suspended author can't sign in, and every session they hold fails the
/// check that runs on each request (the stamp is also changed when they are suspended).
/// </summary>
public sealed class AuthorSignInManager(
    UserManager<AppUser> users,
    IHttpContextAccessor context,
    IUserClaimsPrincipalFactory<AppUser> claims,
    IOptions<IdentityOptions> options,
    ILogger<SignInManager<AppUser>> logger,
    Microsoft.AspNetCore.Authentication.IAuthenticationSchemeProvider schemes,
    IUserConfirmation<AppUser> confirmation)
    : SignInManager<AppUser>(users, context, claims, options, logger, schemes, confirmation)
{
    public override async Task<bool> CanSignInAsync(AppUser user) => user.SuspendedAt is null && await base.CanSignInAsync(user);

    public override async Task<AppUser?> ValidateSecurityStampAsync(ClaimsPrincipal? principal)
    {
        var user = await base.ValidateSecurityStampAsync(principal);
        return user is { SuspendedAt: null } ? user : null;
    }
}
