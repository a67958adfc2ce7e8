using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Newsletter.Web.Content;
using Newsletter.Web.Data;

namespace Newsletter.Web.Infrastructure;

/// <summary>
/// GET /healthz for load balancers, container health checks and systemd watchdogs: 200 "Healthy" when this
/// node can read its database, 503 "Unhealthy" when it cannot. Anonymous, never cached, no details: the
/// reason goes to the log, not to whoever asks.
/// </summary>
public static class HealthExtensions
{
    public const string Path = "/healthz";

    public static WebApplicationBuilder AddHealth(this WebApplicationBuilder builder)
    {
        builder.Services.AddHealthChecks().AddCheck<DatabaseHealthCheck>("database");
        return builder;
    }

    public static WebApplication MapHealth(this WebApplication app)
    {
        app.MapHealthChecks(Path).AllowAnonymous();
        return app;
    }
}

/// <summary>Reads the content version: one row by its key proves the connection and a migrated schema.</summary>
internal sealed class DatabaseHealthCheck(AppDbContext db, ILogger<DatabaseHealthCheck> logger) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await db.ContentVersions.AsNoTracking().AnyAsync(v => v.Id == ContentVersion.RowId, cancellationToken);
            return HealthCheckResult.Healthy();
        }
        catch (Exception e) when (e is System.Data.Common.DbException or InvalidOperationException or TimeoutException)
        {
            logger.LogWarning(e, "Health check: the database cannot be read");
            return HealthCheckResult.Unhealthy("The database cannot be read.", e);
        }
    }
}
