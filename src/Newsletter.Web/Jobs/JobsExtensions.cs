using Hangfire;
using Hangfire.Dashboard;
using Hangfire.PostgreSql;
using Newsletter.Web.Admin;
using Newsletter.Web.Infrastructure;

namespace Newsletter.Web.Jobs;

public static class JobsExtensions
{
    /// <summary>
    /// Hangfire runs the work; the app's tables hold the truth (jobs carry only ids). Jobs:Storage picks
    /// where jobs live: Sqlite (default, one host), PostgreSql (several hosts), InMemory (tests, demos).
    /// </summary>
    public static WebApplicationBuilder AddJobs(this WebApplicationBuilder builder, AppPaths paths)
    {
        var storage = builder.Configuration["Jobs:Storage"] ?? "Sqlite";
        builder.Services.AddHangfire((services, config) =>
        {
            config.SetDataCompatibilityLevel(CompatibilityLevel.Version_180)
                .UseSimpleAssemblyNameTypeSerializer()
                .UseRecommendedSerializerSettings();
            switch (storage.ToLowerInvariant())
            {
                case "inmemory":
                    config.UseInMemoryStorage();
                    break;
                case "postgresql":
                case "postgres":
                    var cs = builder.Configuration["Jobs:PostgreSql:ConnectionString"];
                    if (string.IsNullOrWhiteSpace(cs))
                    {
                        throw new InvalidOperationException("Jobs:Storage is PostgreSql but Jobs:PostgreSql:ConnectionString is empty.");
                    }

                    config.UsePostgreSqlStorage(o => o.UseNpgsqlConnection(cs));
                    break;
                case "sqlite":
                    config.UseSqliteJobStorage(builder.Configuration.GetSection("Jobs:Sqlite"), paths);
                    break;
                default:
                    throw new InvalidOperationException($"Jobs:Storage '{storage}' is not one of Sqlite, PostgreSql, InMemory.");
            }
        });

        if (builder.Configuration.GetValue("Jobs:Server", true))
        {
            builder.Services.AddHangfireServer(o =>
            {
                o.WorkerCount = Math.Max(1, builder.Configuration.GetValue("Jobs:WorkerCount", 4));
                o.Queues = ["default", "sending", "imports"];
                o.ServerName = $"{Environment.MachineName}:{Environment.ProcessId}";
            });
        }

        return builder;
    }

    public static WebApplication MapJobsDashboard(this WebApplication app)
    {
        if (app.Configuration.GetValue("Jobs:Dashboard", true))
        {
            // Endpoint authorization replaces Hangfire's local-requests-only default: authors only, from anywhere.
            app.MapHangfireDashboard("/admin/jobs", new DashboardOptions
            {
                Authorization = [new AuthenticatedAuthorFilter()],
                DashboardTitle = "Jobs",
                AppPath = "/admin",
                DisplayStorageConnectionString = false,
            }).RequireAuthorization(AdminExtensions.AuthorPolicy);
        }

        return app;
    }
}

internal sealed class AuthenticatedAuthorFilter : IDashboardAuthorizationFilter
{
    public bool Authorize(DashboardContext context) => context.GetHttpContext().User.Identity?.IsAuthenticated == true;
}
