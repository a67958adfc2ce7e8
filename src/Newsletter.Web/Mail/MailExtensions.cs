using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Newsletter.Mail;
using Newsletter.Web.Infrastructure;
using Newsletter.Web.Site;

namespace Newsletter.Web.Mail;

public static class MailExtensions
{
    /// <summary>Every email the app can send; each must exist and parse, or the app refuses to start.</summary>
    public static readonly string[] Templates = ["confirm", "welcome", "already-subscribed", "preferences", "password-reset", "invitation", "issue", "digest-ready", "your-data"];

    public static WebApplicationBuilder AddMail(this WebApplicationBuilder builder, AppPaths paths)
    {
        var options = builder.Configuration.GetSection("Mail").Get<MailOptions>() ?? new MailOptions();
        options.PickupFolder = paths.Resolve(options.PickupFolder, Path.Combine(paths.DataFolder, "outbox"));
        options.TemplatesFolder = paths.TemplatesFolder;
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(sp => MailTransportFactory.Create(options, sp.GetRequiredService<ILoggerFactory>()));
        builder.Services.TryAddSingleton(TimeProvider.System);
        // Dates in emails show in the author's zone, as on the site; "now" is the app's clock, so tests can fix it.
        builder.Services.AddSingleton(sp => new TemplateRenderer(options.TemplatesFolder, sp.GetRequiredService<IOptions<SiteOptions>>().Value.Zone, sp.GetRequiredService<TimeProvider>()));
        builder.Services.AddSingleton(_ => new OutboxReader(options.PickupFolder));
        builder.Services.AddScoped<TransactionalMail>();
        builder.Services.AddSingleton<TemplateCheck>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<TemplateCheck>());
        return builder;
    }
}

/// <summary>
/// A missing or broken template stops the app at start-up with the file's name, never a blank email later. So does
/// a transport it can't make (an unknown Mail:Transport, incomplete DKIM settings): made on first use, it failed only
/// in each mail job, retried in Hangfire, while the site said "check your inbox" and the health check said Healthy.
/// The process runs it before the host starts (<see cref="StartFailure.CheckSettings"/>); as a hosted service it
/// covers a host started another way (the tests' factory), and runs only once.
/// </summary>
public sealed class TemplateCheck(TemplateRenderer templates, IServiceProvider services, ILogger<TemplateCheck> logger) : IHostedService
{
    private int _passed;

    public void Run()
    {
        if (Volatile.Read(ref _passed) == 1)
        {
            return;
        }

        _ = services.GetRequiredService<IMailTransport>();
        templates.ValidateAll(MailExtensions.Templates);
        logger.LogInformation("Email templates in {Folder} are valid", templates.Folder);
        Volatile.Write(ref _passed, 1);
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        Run();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>Variables every template can use.</summary>
public static class TemplateModel
{
    public static Dictionary<string, object?> Base(SiteOptions site) => new()
    {
        ["site"] = new Dictionary<string, object?> { ["title"] = site.Title, ["url"] = site.BaseUrl.TrimEnd('/'), ["author"] = site.AuthorName },
        ["footer_text"] = site.FooterText,
    };
}
