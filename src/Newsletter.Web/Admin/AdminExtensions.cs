using Microsoft.AspNetCore.Identity;
using Newsletter.Web.Data;

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
        builder.Services.ConfigureApplicationCookie(o =>
        {
            o.LoginPath = "/admin/login";
            o.LogoutPath = "/admin/logout";
            o.AccessDeniedPath = "/admin/login";
            o.Cookie.Name = "newsletter.auth";
            o.Cookie.HttpOnly = true;
            o.Cookie.SameSite = SameSiteMode.Lax;
            o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            o.ExpireTimeSpan = TimeSpan.FromDays(14);
            o.SlidingExpiration = true;
        });
        builder.Services.AddAntiforgery(o =>
        {
            o.Cookie.Name = "newsletter.af";
            o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            o.Cookie.SameSite = SameSiteMode.Strict;
        });
        builder.Services.AddAuthorizationBuilder()
            .AddPolicy(AuthorPolicy, p => p.RequireAuthenticatedUser());
        builder.Services.AddScoped<AccountMailJob>();
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
