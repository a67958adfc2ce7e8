using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Newsletter.Web.Api;

/// <summary>The OpenAPI document at /openapi/v1.json: the /api/v1 endpoints, their bearer scheme and the scope each needs.</summary>
public static class ApiDocument
{
    public const string BearerScheme = "bearer";

    public static void Configure(OpenApiOptions options)
    {
        options.ShouldInclude = d => d.RelativePath?.StartsWith(ApiExtensions.Prefix.TrimStart('/'), StringComparison.OrdinalIgnoreCase) == true;
        options.AddDocumentTransformer((document, _, _) =>
        {
            document.Info = new OpenApiInfo
            {
                Title = "Newsletter API",
                Version = "v1",
                Description = "Subscribers, imports, notes, issues, suppressions and the reader history, with a bearer token made in the admin " +
                    "(API tokens). Scopes: read, write, send. Every error is application/problem+json; a token over its rate limit gets 429 with Retry-After.",
            };
            document.Components ??= new OpenApiComponents();
            document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
            document.Components.SecuritySchemes[BearerScheme] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.Http,
                Scheme = "bearer",
                BearerFormat = "nl_ followed by 64 hex digits",
                Description = "An API token made by an author in the admin (API tokens); it is shown once.",
            };
            return Task.CompletedTask;
        });
        options.AddSchemaTransformer((schema, context, _) =>
        {
            // The API's request records take every field as optional on the wire (a missing one reads as null or its
            // default, and the API's own checks say what is missing), but the generator lists each constructor
            // parameter as required: IssueWrite had seven, and a client generated from it demanded them all. Only
            // what is marked [Required] stays required.
            var type = context.JsonTypeInfo.Type;
            if (context.JsonPropertyInfo is null && schema.Required is { Count: > 0 } required && type.Namespace?.StartsWith("Newsletter.", StringComparison.Ordinal) == true
                && type.GetConstructors().MaxBy(c => c.GetParameters().Length) is { } constructor)
            {
                foreach (var parameter in constructor.GetParameters())
                {
                    var marked = parameter.IsDefined(typeof(System.ComponentModel.DataAnnotations.RequiredAttribute), false)
                        || type.GetProperty(parameter.Name!)?.IsDefined(typeof(System.ComponentModel.DataAnnotations.RequiredAttribute), false) == true;
                    if (!marked)
                    {
                        required.Remove(System.Text.Json.JsonNamingPolicy.CamelCase.ConvertName(parameter.Name!));
                    }
                }
            }

            return Task.CompletedTask;
        });
        options.AddOperationTransformer((operation, context, _) =>
        {
            // The scope an endpoint needs, read from its policy, so the document can't disagree with the code.
            var scopes = context.Description.ActionDescriptor.EndpointMetadata.OfType<IAuthorizeData>()
                .Select(a => a.Policy).Where(p => p is not null && p.StartsWith("api:", StringComparison.Ordinal)).Select(p => p![4..]).Distinct().ToList();
            operation.Security = [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(BearerScheme, context.Document)] = scopes }];
            if (scopes.Count > 0 && operation.Description is { } description)
            {
                operation.Description = $"{description} Needs the '{string.Join("', '", scopes)}' scope.";
            }

            return Task.CompletedTask;
        });
    }
}
