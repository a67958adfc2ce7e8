using System.Text.Json;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Infrastructure;
using Microsoft.AspNetCore.Authorization.Policy;
using Microsoft.AspNetCore.Mvc;

namespace Newsletter.Web.Api;

/// <summary>The API's error answers: RFC 9457 problem details whose detail says, in a sentence, what to change.</summary>
public static partial class ApiProblems
{
    /// <summary>Fills in what a bare status (from routing, Kestrel or a thrown BadHttpRequestException) leaves out.</summary>
    public static void Describe(ProblemDetailsContext context)
    {
        var problem = context.ProblemDetails;
        if (context.Exception is BadHttpRequestException bad)
        {
            problem.Status = bad.StatusCode;
            context.HttpContext.Response.StatusCode = bad.StatusCode;
            if (QueryValue().Match(bad.Message) is { Success: true } query)
            {
                // 'Failed to bind parameter "Nullable<int> limit" from "abc".': named as the other refused fields are.
                var value = query.Groups["value"].Value;
                var said = $"'{(value.Length > 40 ? value[..40] + "..." : value)}' is not {KindOf(query.Groups["type"].Value)}.";
                problem.Detail = $"{query.Groups["name"].Value}: {said}";
                problem.Extensions["errors"] = new Dictionary<string, string[]> { [query.Groups["name"].Value] = [said] };
            }
            else
            {
                problem.Detail = BodyProblem(bad, context);
            }
        }

        if (problem.Status == StatusCodes.Status503ServiceUnavailable && Data.DatabaseBusy.Is(context.Exception))
        {
            context.HttpContext.Response.Headers.RetryAfter = Data.DatabaseBusy.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            problem.Detail = "The database is busy (another process holds it) or not answering: nothing was saved. Try again in a few seconds.";
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

    /// <summary>
    /// What was wrong with a body the endpoint could not bind, in the caller's terms. ASP.NET Core's own messages name
    /// the handler's parameter and type ("Failed to read parameter \"SubscriberCreate body\"", "Implicit body inferred
    /// ... Did you mean to use a Service instead?") and call a cut-off body a wrong value: a script's author needs to
    /// know whether the JSON is broken, and where, or which field wants what kind of value.
    /// </summary>
    internal static string BodyProblem(BadHttpRequestException bad, ProblemDetailsContext problem)
    {
        const string NoBody = "The request has no body: send the fields as a JSON object.";
        if (bad.InnerException is not JsonException json)
        {
            return bad.Message.StartsWith("Implicit body inferred", StringComparison.Ordinal) || bad.Message.StartsWith("Required parameter", StringComparison.Ordinal)
                ? problem.HttpContext.Request.ContentLength is > 0 ? "The body is JSON null: send the fields as a JSON object." : NoBody
                : bad.Message;
        }

        if (json.BytePositionInLine is 0 && json.LineNumber is 0 && json.Message.StartsWith("The input does not contain any JSON tokens", StringComparison.Ordinal))
        {
            return NoBody;
        }

        // The reader's line and byte, counted from 1 for people (System.Text.Json counts from 0).
        var at = json.LineNumber is { } line && json.BytePositionInLine is { } column ? $" (line {line + 1}, byte {column + 1})" : "";
        // The exception handler has taken the endpoint off the request by now and hands its metadata over with the problem.
        var body = (problem.AdditionalMetadata ?? problem.HttpContext.GetEndpoint()?.Metadata)?.GetMetadata<Microsoft.AspNetCore.Http.Metadata.IAcceptsMetadata>()?.RequestType;
        if (UnknownField().Match(json.Message) is { Success: true } unknown)
        {
            // Body types refuse fields they do not have: a field ignored would look like a change made ({"status":...}
            // in a PATCH) or a choice taken ({"double_opt_in":false}, as another platform spells it). Say which field, and what is taken instead.
            // The fields of the object it was found in: the body's own, or a nested one's ("segment").
            var name = unknown.Groups[1].Value;
            var owner = json.Path is { } found && found.EndsWith("." + name, StringComparison.Ordinal) ? found[..^(name.Length + 1)] : json.Path ?? "$";
            var takes = FieldType(body, owner)?.GetProperties().Select(p => System.Text.Json.JsonNamingPolicy.CamelCase.ConvertName(p.Name)).ToArray() ?? [];
            name = owner.Length > 2 ? $"{owner[2..]}.{name}" : name;
            var sentence = $"'{name}' is not a field this endpoint takes{(takes.Length > 0 ? $"; it takes {string.Join(", ", takes)}" : "")}. Nothing was saved.";
            problem.ProblemDetails.Extensions["errors"] = new Dictionary<string, string[]> { [name] = [sentence] };
            return sentence;
        }

        if (!json.Message.StartsWith("The JSON value could not be converted to ", StringComparison.Ordinal))
        {
            // A syntax error: the text before " Path:" is the reader's sentence ("'t' is invalid after a single JSON
            // value", "Expected depth to be zero at the end of the JSON payload..."), less its advice to the programmer.
            var cut = json.Message.IndexOf(" Path:", StringComparison.Ordinal);
            var reason = (cut > 0 ? json.Message[..cut] : json.Message)
                .Replace(" Change the reader options.", "", StringComparison.Ordinal)
                .Replace(", when isFinalBlock is true", "", StringComparison.Ordinal)
                .TrimEnd('.');
            return $"The body is not valid JSON{at}: {reason}. Nothing was saved.";
        }

        // The converter names the object it was filling, not the field, so the field's type is found by following
        // the path from the endpoint's body type.
        var field = string.IsNullOrEmpty(json.Path) || json.Path == "$" ? "The body is not what this endpoint takes" : $"The value at {json.Path} is not what this field takes";
        var detail = FieldType(body, json.Path) is { } type ? $"{field}: it takes {Kind(type)}{at}." : $"{field}{at}.";
        if (json.Path is { Length: > 2 } path && path.StartsWith("$.", StringComparison.Ordinal))
        {
            // Named in errors as a refused field is ("doubleOptIn", "segment.gotIssue", "tags[0]"), for a script that reads those.
            problem.ProblemDetails.Extensions["errors"] = new Dictionary<string, string[]> { [path[2..]] = [detail] };
        }

        return detail;
    }

    [System.Text.RegularExpressions.GeneratedRegex("^The JSON property '([^']*)' could not be mapped to any .NET member")]
    private static partial System.Text.RegularExpressions.Regex UnknownField();

    // "$.segment.topics[0]" from the body's type: a property per name (JSON names are camelCase), the element per index.
    private static Type? FieldType(Type? type, string? path)
    {
        if (type is null || path is null || !path.StartsWith('$'))
        {
            return null;
        }

        foreach (System.Text.RegularExpressions.Match step in PathStep().Matches(path[1..]))
        {
            type = Nullable.GetUnderlyingType(type) ?? type;
            if (step.Groups["name"].Success)
            {
                type = type.GetProperty(step.Groups["name"].Value, System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.IgnoreCase)?.PropertyType;
            }
            else
            {
                type = ElementType(type);
            }

            if (type is null)
            {
                return null;
            }
        }

        return type;
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"\.(?<name>[A-Za-z0-9_]+)|\[(?<index>\d+)\]")]
    private static partial System.Text.RegularExpressions.Regex PathStep();

    private static Type? ElementType(Type type) => type == typeof(string)
        ? null
        : type.IsArray
            ? type.GetElementType()
            : type.GetInterfaces().Append(type).FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IEnumerable<>))?.GetGenericArguments()[0];

    [System.Text.RegularExpressions.GeneratedRegex("""^Failed to bind parameter "(?<type>[^"]+) (?<name>[A-Za-z0-9_]+)" from "(?<value>.*)"\.$""", System.Text.RegularExpressions.RegexOptions.Singleline)]
    private static partial System.Text.RegularExpressions.Regex QueryValue();

    // The framework's C# spelling of a query parameter's type ("Nullable<int>", "bool"), told in the words a body's field gets.
    private static readonly Dictionary<string, Type> QueryTypes = new(StringComparer.Ordinal)
    {
        ["int"] = typeof(int), ["long"] = typeof(long), ["short"] = typeof(short), ["bool"] = typeof(bool), ["double"] = typeof(double),
        ["decimal"] = typeof(decimal), ["float"] = typeof(float), ["DateTime"] = typeof(DateTime), ["DateTimeOffset"] = typeof(DateTimeOffset), ["DateOnly"] = typeof(DateOnly),
    };

    private static string KindOf(string type) =>
        QueryTypes.TryGetValue(type.Replace("Nullable<", "", StringComparison.Ordinal).TrimEnd('>'), out var known) ? Kind(known) : "what this field takes";

    private static string Kind(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        return type switch
        {
            _ when type == typeof(bool) => "true or false",
            _ when type == typeof(string) => "text in \"quotes\"",
            _ when type.IsEnum => $"one of {string.Join(", ", Enum.GetNames(type).Select(n => $"\"{n}\""))}",
            _ when type == typeof(DateTime) || type == typeof(DateTimeOffset) => "a date and time such as \"2026-12-06T09:00:00Z\"",
            _ when type == typeof(DateOnly) => "a date such as \"2026-12-06\"",
            _ when type == typeof(int) || type == typeof(long) || type == typeof(short) => "a whole number",
            _ when type == typeof(double) || type == typeof(decimal) || type == typeof(float) => "a number",
            _ when ElementType(type) is not null => "a list in [brackets]",
            _ => "an object in {braces}",
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
            var failed = authorizeResult.AuthorizationFailure?.FailedRequirements.OfType<ClaimsAuthorizationRequirement>().ToList() ?? [];
            var missing = failed.Where(r => r.ClaimType == ApiTokenAuthentication.ScopeClaim).SelectMany(r => r.AllowedValues ?? []).Distinct().ToList();
            // A role the token's author lacks is not a scope a new token could carry: say whose token it takes.
            var roles = failed.Where(r => r.ClaimType == Newsletter.Web.Admin.AuthorPolicies.RoleClaim).SelectMany(r => r.AllowedValues ?? []).Distinct().ToList();
            var role = context.User.FindFirst(Newsletter.Web.Admin.AuthorPolicies.RoleClaim)?.Value;
            var cut = missing.Where(m => context.User.HasClaim(ApiTokenAuthentication.GrantedScopeClaim, m)).ToList();
            await ApiProblems.WriteAsync(context, StatusCodes.Status403Forbidden,
                cut.Count > 0 ? $"This token was made with the '{string.Join("', '", cut)}' scope, but its author's role ({role?.ToLowerInvariant()}) no longer allows it. An owner can change the author's role, or a token of an author who may can be used."
                : missing.Count > 0 ? $"This token lacks the '{string.Join("', '", missing)}' scope. An author can make a token with it in the admin (API tokens)."
                : roles.Count > 0 ? $"This takes a token of an author who is {string.Join(" or ", roles.Select(r => r.ToLowerInvariant()))}; this token's author is not."
                : "This token may not do that.");
            return;
        }

        await context.ChallengeAsync(ApiTokenAuthentication.SchemeName);
        await ApiProblems.WriteAsync(context, StatusCodes.Status401Unauthorized, context.Request.Headers.Authorization.Count == 0
            ? "Send an API token: 'Authorization: Bearer nl_...'. A sign-in cookie does not open the API."
            : "The token is unknown, revoked or expired.");
    }
}
