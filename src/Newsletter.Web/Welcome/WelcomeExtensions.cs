using Hangfire;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Newsletter.Web.Welcome;

public static class WelcomeExtensions
{
    public static WebApplicationBuilder AddWelcome(this WebApplicationBuilder builder)
    {
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddScoped<WelcomeSeries>();
        builder.Services.AddScoped<WelcomeMessages>();
        builder.Services.AddScoped<WelcomeSender>();
        builder.Services.AddScoped<WelcomeJob>();
        builder.Services.AddHostedService<WelcomeJobRegistration>();
        return builder;
    }
}

/// <summary>The due check runs every minute (delays are in days; a minute late is on time), and once at start-up.</summary>
public sealed class WelcomeJobRegistration(IRecurringJobManager recurring, IBackgroundJobClient jobs, IHostApplicationLifetime lifetime, ILogger<WelcomeJobRegistration> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        Jobs.RecurringAtStart.Register("The welcome series' recurring job", () => recurring.AddOrUpdate<WelcomeJob>(WelcomeJob.RecurringJobId, j => j.RunAsync(CancellationToken.None), Cron.Minutely()),
            logger, lifetime.ApplicationStopping);
        jobs.Enqueue<WelcomeJob>(j => j.RunAsync(CancellationToken.None));
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
