using System.Globalization;
using System.Reflection;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace Newsletter.Web.Api;

/// <summary>A page of a list, newest or oldest first as the endpoint says; pass <see cref="Next"/> back as <c>cursor</c> for the next page.</summary>
public sealed record Page<T>(IReadOnlyList<T> Items, string? Next);

/// <summary>The answers every endpoint shares, worded once.</summary>
public static class ApiResults
{
    public const int DefaultLimit = 50;
    public const int MaxLimit = 200;

    public static NotFoundProblem NotFound(string detail) => new(detail);

    public static ConflictProblem Conflict(string detail) => new(detail);

    /// <summary>A 400 whose errors map each refused field to what is wrong with it; the detail repeats the first.</summary>
    public static ValidationProblem Invalid(IReadOnlyDictionary<string, string[]> errors) =>
        TypedResults.ValidationProblem(errors.ToDictionary(e => e.Key, e => e.Value),
            detail: string.Join(" ", errors.Select(e => $"{e.Key}: {string.Join(" ", e.Value)}")));

    public static ValidationProblem Invalid(string field, string message) => Invalid(new Dictionary<string, string[]> { [field] = [message] });

    /// <summary>Reads paging parameters: a cursor is the id the last page ended at, opaque to clients.</summary>
    public static bool TryPaging(string? cursor, int? limit, out long? after, out int take, out ValidationProblem? problem)
    {
        (after, take, problem) = (null, limit ?? DefaultLimit, null);
        if (take is < 1 or > MaxLimit)
        {
            problem = Invalid("limit", $"Give a limit from 1 to {MaxLimit}.");
            return false;
        }

        if (!string.IsNullOrEmpty(cursor))
        {
            if (!long.TryParse(cursor, NumberStyles.None, CultureInfo.InvariantCulture, out var id))
            {
                problem = Invalid("cursor", "Pass back the 'next' value of the previous page, unchanged.");
                return false;
            }

            after = id;
        }

        return true;
    }

    public static string Cursor(long id) => id.ToString(CultureInfo.InvariantCulture);

    /// <summary>A value that ends up in a header or a one-line field: a line break there is injection, not formatting.</summary>
    public static bool IsOneLine(string? value) => value is null || !value.Any(Infrastructure.OneLine.IsBreak);
}

/// <summary>
/// A problem written by the app's <see cref="IProblemDetailsService"/> (application/problem+json, with the trace id),
/// like every other error on /api, and described in the OpenAPI document by its status.
/// </summary>
public abstract class ApiProblemResult(int status, string detail) : IResult, IStatusCodeHttpResult, IValueHttpResult, IValueHttpResult<ProblemDetails>
{
    public ProblemDetails Value { get; } = new() { Status = status, Detail = detail };

    public int StatusCode => status;

    int? IStatusCodeHttpResult.StatusCode => status;

    object? IValueHttpResult.Value => Value;

    public async Task ExecuteAsync(HttpContext httpContext)
    {
        httpContext.Response.StatusCode = status;
        await httpContext.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext { HttpContext = httpContext, ProblemDetails = Value });
    }

    protected static void Describe(EndpointBuilder builder, int status) =>
        builder.Metadata.Add(new ProducesResponseTypeMetadata(status, typeof(ProblemDetails), ["application/problem+json"]));
}

/// <summary>404: the id names nothing (or nothing any more).</summary>
public sealed class NotFoundProblem(string detail) : ApiProblemResult(StatusCodes.Status404NotFound, detail), IEndpointMetadataProvider
{
    public static void PopulateMetadata(MethodInfo method, EndpointBuilder builder) => Describe(builder, StatusCodes.Status404NotFound);
}

/// <summary>409: the thing exists but its state refuses the request (already sent, not paused, suppressed...).</summary>
public sealed class ConflictProblem(string detail) : ApiProblemResult(StatusCodes.Status409Conflict, detail), IEndpointMetadataProvider
{
    public static void PopulateMetadata(MethodInfo method, EndpointBuilder builder) => Describe(builder, StatusCodes.Status409Conflict);
}

/// <summary>429: a limit of the author's (not the token's request rate, which the API's gate answers) is spent for now.</summary>
public sealed class TooManyProblem(string detail) : ApiProblemResult(StatusCodes.Status429TooManyRequests, detail), IEndpointMetadataProvider
{
    public static void PopulateMetadata(MethodInfo method, EndpointBuilder builder) => Describe(builder, StatusCodes.Status429TooManyRequests);
}
