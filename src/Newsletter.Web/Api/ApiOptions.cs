using System.ComponentModel.DataAnnotations;
using Newsletter.Web.Infrastructure;

namespace Newsletter.Web.Api;

/// <summary>The "Api" section of appsettings.json.</summary>
public sealed class ApiOptions
{
    /// <summary>Requests per token per minute, summed over all nodes; one more is answered 429 with Retry-After.</summary>
    [Range(1, 1_000_000)]
    public int RequestsPerMinute { get; set; } = 600;

    public RateLimit PerTokenLimit => new("api-token", RequestsPerMinute, TimeSpan.FromMinutes(1));
}
