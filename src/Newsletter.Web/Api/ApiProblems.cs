using System.Text.Json;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Infrastructure;
using Microsoft.AspNetCore.Authorization.Policy;
using Microsoft.AspNetCore.Mvc;

namespace Newsletter.Web.Api;

/// <summary>The API's error answers: RFC 9457 problem details whose detail says, in a sentence, what to change.</summary>
public static class ApiProblems
{
    /// <summary>Fills in what a bare status (from routing, Kestrel or a thrown BadHttpRequestException) leaves out.</summary>
    public static void Describe(ProblemDetailsContext context)
    {
        var problem = context.ProblemDetails;
        if (context.Exception is BadHttpRequestException bad)
        {
            problem.Status = bad.StatusCode;
            context.HttpContext.Response.StatusCode = bad.StatusCode;
            // The JSON reader knows where it stopped ($.status): that names the field.
            var path = (bad.InnerException as JsonException)?.Path;
            problem.Detail = path is null ? bad.Message : $"{bad.Message} The value at {path} is not what this field takes.";
        }

        problem.Detail ??= problem.Status switch
        {
            StatusCodes.Status400BadRequest => "The request could not be read.",
            StatusCodes.Status404NotFound => "There is nothing at this address.",
            StatusCodes.Status405MethodNotAllowed => $"This address does not take {context.HttpContext.Request.Method}.",
            StatusCodes.Status413PayloadTooLarge => "The body is larger than this endpoint takes. Nothing was saved.",
            StatusCodes.Status415UnsupportedMediaType => "Send the body as application/json (imports take text/csv).",
            StatusCodes.Status500InternalServerError => "Something went wrong on the server. It has been logged; nothing you sent was half-applied.",
            _ => null,
        };
    }

    public static async Task WriteAsync(HttpContext context, int status, string detail)
    {
        context.Response.StatusCode = status;
        await context.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails = new ProblemDetails { Status = status, Detail = detail },
        });
    }
}

/// <summary>
/// 401 and 403 on /api as problem details that say what is missing: a token, a valid one, or a scope. Other
/// paths keep the default (the admin's redirect to the sign-in page).
/// </summary>
public sealed class ApiAuthorizationResults : IAuthorizationMiddlewareResultHandler
{
    private readonly AuthorizationMiddlewareResultHandler _default = new();

    public async Task HandleAsync(RequestDelegate next, HttpContext context, AuthorizationPolicy policy, PolicyAuthorizationResult authorizeResult)
    {
        if (!ApiExtensions.IsApi(context) || authorizeResult.Succeeded)
        {
            await _default.HandleAsync(next, context, policy, authorizeResult);
            return;
        }

        if (authorizeResult.Forbidden && context.User.Identity?.IsAuthenticated == true)
        {
            var missing = authorizeResult.AuthorizationFailure?.FailedRequirements.OfType<ClaimsAuthorizationRequirement>()
                .SelectMany(r => r.AllowedValues ?? []).Distinct().ToList() ?? [];
            await ApiProblems.WriteAsync(context, StatusCodes.Status403Forbidden, missing.Count == 0
                ? "This token may not do that."
                : $"This token lacks the '{string.Join("', '", missing)}' scope. An author can make a token with it in the admin (API tokens).");
            return;
        }

        await context.ChallengeAsync(ApiTokenAuthentication.SchemeName);
        await ApiProblems.WriteAsync(context, StatusCodes.Status401Unauthorized, context.Request.Headers.Authorization.Count == 0
            ? "Send an API token: 'Authorization: Bearer nl_...'. A sign-in cookie does not open the API."
            : "The token is unknown, revoked or expired.");
    }
}
