using Hangfire;
using Hangfire.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Mail;
using Newsletter.Web.Data;
using Newsletter.Web.Infrastructure;
using Newsletter.Web.Site;

namespace Newsletter.Web.Digests;

public static class DigestsExtensions
{
    public static WebApplicationBuilder AddDigests(this WebApplicationBuilder builder, AppPaths paths)
    {
        var options = builder.Configuration.GetSection("Digests").Get<DigestOptions>() ?? new DigestOptions();
        options.TemplatesFolder = paths.Resolve(options.TemplatesFolder, "templates");
        builder.Services.AddSingleton(options);
        // Its own renderer: the digest template lives beside templates/email, not among the emails.
        builder.Services.AddSingleton(sp => new DigestTemplate(
            new TemplateRenderer(options.TemplatesFolder, sp.GetRequiredService<IOptions<SiteOptions>>().Value.Zone, sp.GetRequiredService<TimeProvider>()),
            options,
            sp.GetRequiredService<IOptions<SiteOptions>>()));
        builder.Services.AddScoped<DigestEditor>();
        builder.Services.AddScoped<DigestRunner>();
        builder.Services.AddHostedService<DigestSchedules>();
        return builder;
    }
}

/// <summary>
/// The digests table is the truth and Hangfire's recurring jobs follow it: at start-up every digest's job is
/// (re)written, which also picks up a new Site:TimeZone, and a job whose digest is gone is removed.
/// </summary>
public sealed class DigestSchedules(IServiceScopeFactory scopes, JobStorage storage, IRecurringJobManager recurring, IHostApplicationLifetime lifetime, ILogger<DigestSchedules> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var editor = scope.ServiceProvider.GetRequiredService<DigestEditor>();
        var digests = await db.Digests.AsNoTracking().ToListAsync(cancellationToken);
        foreach (var digest in digests)
        {
            // The editor is scoped to this start; a later try needs only the digest and the job manager.
            var register = editor.Registration(digest);
            Jobs.RecurringAtStart.Register($"Digest {digest.Id}'s recurring job", register, logger, lifetime.ApplicationStopping);
        }

        var wanted = digests.Select(d => d.RecurringJobId).ToHashSet(StringComparer.Ordinal);
        using var connection = storage.GetConnection();
        foreach (var job in connection.GetRecurringJobs().Where(j => j.Id.StartsWith("digest:", StringComparison.Ordinal) && !wanted.Contains(j.Id)))
        {
            Jobs.RecurringAtStart.Register($"Removing the recurring job {job.Id}", () => recurring.RemoveIfExists(job.Id), logger, lifetime.ApplicationStopping);
        }

        logger.LogInformation("Digests: {Count} recurring jobs registered", digests.Count);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
