using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Policy;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;
using Newsletter.Web.Admin;
using Newsletter.Web.Infrastructure;
using Scalar.AspNetCore;

namespace Newsletter.Web.Api;

public static class ApiExtensions
{
    /// <summary>Every API route lives under this prefix; the version is in the path so v2 can live beside it.</summary>
    public const string Prefix = "/api/v1";

    /// <summary>Where Scalar.AspNetCore serves its bundle; the reference page itself is Api/Admin/Reference.cshtml.</summary>
    public const string ScalarAssets = "/admin/api-reference/scalar";

    /// <summary>The scheme that authenticates a request unless a policy names its own: tokens on /api, the session cookie elsewhere.</summary>
    private const string PathScheme = "NewsletterByPath";

    public static bool IsApi(HttpContext context) => context.Request.Path.StartsWithSegments("/api", StringComparison.OrdinalIgnoreCase);

    public static WebApplicationBuilder AddApi(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<ApiOptions>().Bind(builder.Configuration.GetSection("Api")).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddScoped<ApiTokens>();
        builder.Services.AddSharedRateLimiter();
        builder.Services.AddSingleton<ApiRateGate>();

        // Tokens on /api, the session cookie everywhere else, chosen by path before anything is read: a cookie
        // is never looked at on /api (no CSRF surface), and a token never signs anyone in to a page.
        builder.Services.AddAuthentication()
            .AddScheme<AuthenticationSchemeOptions, ApiTokenAuthentication>(ApiTokenAuthentication.SchemeName, null)
            .AddPolicyScheme(PathScheme, null, o => o.ForwardDefaultSelector = c => IsApi(c) ? ApiTokenAuthentication.SchemeName : IdentityConstants.ApplicationScheme);
        builder.Services.Configure<AuthenticationOptions>(o => o.DefaultAuthenticateScheme = PathScheme);
        var policies = builder.Services.AddAuthorizationBuilder();
        foreach (var scope in new[] { ApiScopes.Read, ApiScopes.Write, ApiScopes.Send })
        {
            policies.AddPolicy(ApiPolicies.For(scope), p => p.AddAuthenticationSchemes(ApiTokenAuthentication.SchemeName).RequireAuthenticatedUser()
                .RequireClaim(ApiTokenAuthentication.ScopeClaim, ApiTokenAuthentication.Name(scope)));
        }

        // The API reference is for signed-in authors; its document also opens with any API token.
        policies.AddPolicy(ApiPolicies.Reference, p => p.AddAuthenticationSchemes(IdentityConstants.ApplicationScheme, ApiTokenAuthentication.SchemeName).RequireAuthenticatedUser());
        builder.Services.AddSingleton<IAuthorizationMiddlewareResultHandler, ApiAuthorizationResults>();

        // Every error on /api is application/problem+json: the status, a title, a sentence saying what to fix.
        builder.Services.AddProblemDetails(o => o.CustomizeProblemDetails = ApiProblems.Describe);
        // A body that is not JSON, or not the JSON an endpoint takes, throws with the field and the reason, which
        // the API's exception handler turns into a 400 problem; without it the client would get a bare 400.
        builder.Services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        // States by name ("Active", "Sending"), as the admin's own JSON has always said them.
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.Converters.Add(new JsonStringEnumConverter()));
        builder.Services.AddOpenApi("v1", ApiDocument.Configure);
        return builder;
    }

    /// <summary>
    /// Per-request rules for /api/v1, after authorization (so the token is known) and before the endpoint (so
    /// an oversized body is refused before anyone reads it).
    /// </summary>
    public static WebApplication UseApi(this WebApplication app)
    {
        app.UseWhen(c => c.Request.Path.StartsWithSegments(Prefix, StringComparison.OrdinalIgnoreCase), api => api.Use(async (context, next) =>
        {
            var limit = BodyLimit(context);
            if (context.Request.ContentLength is { } length && limit is { } max && length > max)
            {
                await ApiProblems.WriteAsync(context, StatusCodes.Status413PayloadTooLarge,
                    $"The body is {length:N0} bytes; this endpoint takes at most {max:N0}. Nothing was read or saved.");
                return;
            }

            if (context.Request.ContentLength is null && limit is { } cap && context.Request.Body.CanRead)
            {
                // A body without a length (chunked) is counted as it is read, whatever server is in front.
                context.Request.Body = new LimitedBody(context.Request.Body, cap);
            }

            if (context.User.FindFirst(ApiTokenAuthentication.TokenIdClaim)?.Value is { } tokenId)
            {
                var gate = context.RequestServices.GetRequiredService<ApiRateGate>();
                var limiter = context.RequestServices.GetRequiredService<SharedRateLimiter>();
                if (!await gate.TryEnterAsync(tokenId, limiter, context.RequestAborted))
                {
                    context.Response.Headers.RetryAfter = limiter.RetryAfter(gate.Limit);
                    await ApiProblems.WriteAsync(context, StatusCodes.Status429TooManyRequests,
                        $"This token may make {gate.Limit.Permits:N0} requests a minute. Try again after the number of seconds in Retry-After.");
                    return;
                }
            }

            await next(context);
        }));
        return app;
    }

    public static WebApplication MapApi(this WebApplication app)
    {
        var api = app.MapGroup(Prefix)
            // A bearer token is no ambient credential: a page on another site can't make a browser send it.
            .DisableAntiforgery()
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status429TooManyRequests);
        api.AddEndpointFilterFactory(ApiQuery.RefuseUnknown);
        api.MapSubscribersApi();
        api.MapImportsApi();
        api.MapNotesApi();
        api.MapIssuesApi();
        api.MapSuppressionsApi();
        api.MapEventsApi();

        app.MapOpenApi("/openapi/{documentName}.json").RequireAuthorization(ApiPolicies.Reference);
        // Scalar's script is served by the app itself, from the package (no CDN, no fonts from elsewhere): the CSP
        // allows only this origin, and an install may have no internet at all.
        app.MapScalarApiReference(ScalarAssets, o => o
                .WithTitle("Newsletter API")
                .WithOpenApiRoutePattern("/openapi/{documentName}.json")
                .DisableDefaultFonts()
                .DisableTelemetry())
            .RequireAuthorization(AdminExtensions.AuthorPolicy);
        return app;
    }

    /// <summary>The body limit of the endpoint the request was routed to: its own metadata, else the server's.</summary>
    private static long? BodyLimit(HttpContext context)
    {
        if (context.GetEndpoint()?.Metadata.GetMetadata<IRequestSizeLimitMetadata>() is { } own)
        {
            return own.MaxRequestBodySize;
        }

        return context.RequestServices.GetRequiredService<IOptions<KestrelServerOptions>>().Value.Limits.MaxRequestBodySize;
    }
}

/// <summary>The API's authorization policies, one per scope.</summary>
public static class ApiPolicies
{
    public const string Read = "api:read";
    public const string Write = "api:write";
    public const string Send = "api:send";

    /// <summary>The OpenAPI document: a signed-in author or any API token.</summary>
    public const string Reference = "api:reference";

    public static string For(ApiScopes scope) => "api:" + ApiTokenAuthentication.Name(scope);
}

/// <summary>Reads at most <c>limit</c> bytes of a request body, then fails the read with a 413, as Kestrel does for a declared length.</summary>
internal sealed class LimitedBody(Stream inner, long limit) : Stream
{
    private long _read;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => _read; set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count));

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        Count(await inner.ReadAsync(buffer, cancellationToken));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    private int Count(int n)
    {
        _read += n;
        return _read > limit
            ? throw new Microsoft.AspNetCore.Http.BadHttpRequestException($"The body is larger than this endpoint takes ({limit:N0} bytes). Nothing was saved.", StatusCodes.Status413PayloadTooLarge)
            : n;
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
