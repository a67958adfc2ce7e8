using System.Reflection;
using Microsoft.AspNetCore.Mvc;

namespace Newsletter.Web.Api;

/// <summary>
/// Every API endpoint refuses a query parameter it does not take, by name, as the bodies refuse unknown fields:
/// a typo was silently dropped, so `POST /imports?activ=true&amp;consent=...` imported the file as pending and
/// mailed every row a confirmation.
/// </summary>
internal static class ApiQuery
{
    public static EndpointFilterDelegate RefuseUnknown(EndpointFilterFactoryContext context, EndpointFilterDelegate next)
    {
        // A handler's simple parameters are what the query (or the route) can bind; bodies, services and the
        // request itself are not. Read once per endpoint, when the filter is built.
        var taken = context.MethodInfo.GetParameters()
            .Where(p => IsSimple(p.ParameterType) && p.GetCustomAttribute<FromServicesAttribute>() is null && p.GetCustomAttribute<FromBodyAttribute>() is null)
            .Select(p => p.Name!)
            .ToHashSet(StringComparer.OrdinalIgnoreCase);
        return async invocation =>
        {
            // A parameter the route binds (the id in /imports/{id}) is not a query parameter: ?id= would be ignored.
            var route = invocation.HttpContext.Request.RouteValues;
            foreach (var key in invocation.HttpContext.Request.Query.Keys)
            {
                if (!taken.Contains(key) || route.ContainsKey(key))
                {
                    var query = taken.Where(t => !route.ContainsKey(t)).ToList();
                    return ApiResults.Invalid(key, $"'{key}' is not a query parameter this endpoint takes; it takes {(query.Count == 0 ? "none" : string.Join(", ", query))}.");
                }
            }

            return await next(invocation);
        };
    }

    private static bool IsSimple(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        return type == typeof(string) || type.IsPrimitive || type.IsEnum || type == typeof(decimal) || type == typeof(DateTime)
            || type == typeof(DateTimeOffset) || type == typeof(DateOnly) || type == typeof(Guid) || type == typeof(string[]);
    }
}
