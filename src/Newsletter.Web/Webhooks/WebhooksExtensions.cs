using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Newsletter.Web.Webhooks;

public static class WebhooksExtensions
{
    /// <summary>Signed webhooks: options, the guarded HTTP client, the dispatch job and the pump that starts it on every node.</summary>
    public static WebApplicationBuilder AddWebhooks(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<WebhookOptions>().Bind(builder.Configuration.GetSection("Webhooks"))
            .Validate(o => !o.Problems().Any(), "Webhooks settings are not usable: Timeout, retry delays and PollInterval must be positive, BatchSize and Parallelism at least 1, LeaseDuration more than twice Timeout")
            .ValidateOnStart();
        builder.Services.AddWebhookHttp();
        builder.Services.AddSingleton<WebhookSignal>();
        builder.Services.AddScoped<WebhookDispatcher>();
        builder.Services.AddHostedService<WebhookPump>();
        builder.Services.TryAddSingleton(TimeProvider.System);
        return builder;
    }

}
