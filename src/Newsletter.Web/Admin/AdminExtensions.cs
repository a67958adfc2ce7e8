using Microsoft.AspNetCore.Identity;
using Newsletter.Web.Data;
using Newsletter.Web.Infrastructure;

namespace Newsletter.Web.Admin;

public static class AdminExtensions
{
    public const string AuthorPolicy = "Author";

    public static WebApplicationBuilder AddAuthors(this WebApplicationBuilder builder)
    {
        builder.Services.AddIdentity<AppUser, IdentityRole>(o =>
            {
                // Length over composition rules (NIST 800-63B): a long passphrase beats "P@ssw0rd1".
                o.Password.RequiredLength = 12;
                o.Password.RequireDigit = false;
                o.Password.RequireLowercase = false;
                o.Password.RequireUppercase = false;
                o.Password.RequireNonAlphanumeric = false;
                o.Lockout.MaxFailedAccessAttempts = 5;
                o.Lockout.DefaultLockoutTimeSpan = TimeSpan.FromMinutes(15);
                o.Lockout.AllowedForNewUsers = true;
                o.User.RequireUniqueEmail = true;
            })
            .AddEntityFrameworkStores<AppDbContext>()
            .AddDefaultTokenProviders();

        builder.Services.Configure<DataProtectionTokenProviderOptions>(o => o.TokenLifespan = TimeSpan.FromHours(24));
        // A site published over https marks its session cookies Secure whatever scheme the request arrived on,
        // so a proxy that forgets X-Forwarded-Proto can't make the session travel in clear text.
        var cookiesSecure = (builder.Configuration["Site:BaseUrl"] ?? "").StartsWith("https://", StringComparison.OrdinalIgnoreCase)
            ? CookieSecurePolicy.Always
            : CookieSecurePolicy.SameAsRequest;
        builder.Services.ConfigureApplicationCookie(o =>
        {
            o.LoginPath = "/admin/login";
            o.LogoutPath = "/admin/logout";
            o.AccessDeniedPath = "/admin/login";
            o.Cookie.Name = "newsletter.auth";
            o.Cookie.HttpOnly = true;
            o.Cookie.SameSite = SameSiteMode.Lax;
            o.Cookie.SecurePolicy = cookiesSecure;
            o.ExpireTimeSpan = TimeSpan.FromDays(14);
            o.SlidingExpiration = true;
        });
        // Identity's short-lived cookies (the half-way point of a two-factor sign-in) follow the same rule.
        foreach (var scheme in new[] { IdentityConstants.TwoFactorUserIdScheme, IdentityConstants.TwoFactorRememberMeScheme, IdentityConstants.ExternalScheme })
        {
            builder.Services.Configure<Microsoft.AspNetCore.Authentication.Cookies.CookieAuthenticationOptions>(scheme, o => o.Cookie.SecurePolicy = cookiesSecure);
        }

        builder.Services.AddAntiforgery(o =>
        {
            o.Cookie.Name = "newsletter.af";
            // Not Always: the antiforgery cookie is no credential, and Always turns every form served over
            // plain http (a proxy without X-Forwarded-Proto) into a 500 instead of a working page.
            o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            o.Cookie.SameSite = SameSiteMode.Strict;
        });
        builder.Services.AddAuthorizationBuilder()
            .AddPolicy(AuthorPolicy, p => p.RequireAuthenticatedUser());
        builder.Services.AddScoped<AccountMailJob>();
        builder.Services.AddMailRequestLimits();
        return builder;
    }

    public static WebApplication MapAdmin(this WebApplication app)
    {
        var admin = app.MapGroup("/admin").RequireAuthorization(AuthorPolicy);
        admin.MapPost("/logout", async (SignInManager<AppUser> signIn) =>
        {
            await signIn.SignOutAsync();
            return Results.Redirect("/admin/login?signedOut=1");
        });
        admin.MapPost("/api/preview", (PreviewRequest request, Content.MarkdownRenderer markdown) =>
        {
            if (request.Markdown is { Length: > 2_000_000 })
            {
                return Results.Problem("The text is larger than 2 MB.", statusCode: StatusCodes.Status413PayloadTooLarge);
            }

            return Results.Ok(new { html = markdown.Render(request.Markdown ?? "").Html });
        });
        return app;
    }
}

public sealed record PreviewRequest(string? Markdown);
