using System.Security.Claims;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;
using Newsletter.Web.Data;
using Newsletter.Web.Infrastructure;

namespace Newsletter.Web.Admin;

public static class AdminExtensions
{
    public const string AuthorPolicy = "Author";

    /// <summary>Only owners: authors, settings, webhooks, exports, erasure, other people's mail (the Outbox).</summary>
    public const string OwnerPolicy = "Owner";

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
            .AddDefaultTokenProviders()
            // After the defaults: replaces Identity's authenticator provider, whose codes can be used twice.
            .AddTokenProvider<OneTimeAuthenticatorTokenProvider>(TokenOptions.DefaultAuthenticatorProvider)
            .AddUserStore<AuthorUserStore>()
            .AddClaimsPrincipalFactory<AuthorClaimsFactory>()
            .AddSignInManager<AuthorSignInManager>();

        // Every request checks the session's security stamp, so logout, a password reset or a 2FA change ends
        // every copy of the cookie at once, not after Identity's default half hour. It costs one read by key.
        builder.Services.Configure<SecurityStampValidatorOptions>(o => o.ValidationInterval = TimeSpan.Zero);

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
            // A signed-in co-author on an owner-only page gets a plain 403 (the friendly error page), not the
            // login form they are already past.
            o.Events.OnRedirectToAccessDenied = context =>
            {
                context.Response.StatusCode = StatusCodes.Status403Forbidden;
                return Task.CompletedTask;
            };
        });
        // Identity's short-lived cookies (the half-way point of a two-factor sign-in) follow the same rule.
        foreach (var scheme in new[] { IdentityConstants.TwoFactorUserIdScheme, IdentityConstants.TwoFactorRememberMeScheme, IdentityConstants.ExternalScheme })
        {
            builder.Services.Configure<Microsoft.AspNetCore.Authentication.Cookies.CookieAuthenticationOptions>(scheme, o => o.Cookie.SecurePolicy = cookiesSecure);
        }

        // TempData carries a form's flash (a sign-up's error and the address typed) across its redirect: encrypted,
        // but the site's own data, so it follows the session's rule rather than the request's scheme alone.
        builder.Services.Configure<Microsoft.AspNetCore.Mvc.CookieTempDataProviderOptions>(o => o.Cookie.SecurePolicy = cookiesSecure);
        builder.Services.AddAntiforgery(o =>
        {
            o.Cookie.Name = "newsletter.af";
            // Not Always: the antiforgery cookie is no credential, and Always turns every form served over
            // plain http (a proxy without X-Forwarded-Proto) into a 500 instead of a working page.
            o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            o.Cookie.SameSite = SameSiteMode.Strict;
        });
        // Owner, editor, writer, viewer: each permission is a policy (Admin/AuthorRoles.cs), checked on pages,
        // page handlers, endpoints and the API from the same table.
        builder.Services.AddAuthorizationBuilder().AddAuthorPolicies();
        builder.Services.Configure<Microsoft.AspNetCore.Mvc.MvcOptions>(o => o.Filters.Add<HandlerAuthorizationFilter>());
        builder.Services.AddScoped<Audit.AuditLog>();
        builder.Services.AddScoped<AccountMailJob>();
        builder.Services.AddMailRequestLimits();
        return builder;
    }

    public static WebApplication MapAdmin(this WebApplication app)
    {
        var admin = app.MapGroup("/admin").RequireAuthorization(AuthorPolicy);
        admin.MapPost("/logout", async (SignInManager<AppUser> signIn, UserManager<AppUser> users, Microsoft.AspNetCore.Antiforgery.IAntiforgery antiforgery, HttpContext http) =>
        {
            // Checked here: the endpoint binds no form, so nothing else would, and signing out ends every session.
            if (!await antiforgery.IsRequestValidAsync(http))
            {
                return Results.BadRequest();
            }

            // A new stamp, so a copy of this session's cookie (another tab, another device, a thief) dies too.
            if (await users.GetUserAsync(http.User) is { } user)
            {
                await users.UpdateSecurityStampAsync(user);
            }

            await signIn.SignOutAsync();
            return Results.Redirect("/admin/login?signedOut=1");
        });
        admin.MapPost("/api/preview", (PreviewRequest request, Content.MarkdownRenderer markdown) =>
        {
            if (request.Markdown is { Length: > 2_000_000 })
            {
                return Results.Problem("The text is larger than 2 MB.", statusCode: StatusCodes.Status413PayloadTooLarge);
            }

            try
            {
                return Results.Ok(new { html = markdown.Render(request.Markdown ?? "").Html });
            }
            catch (Content.MarkdownTooComplexException e)
            {
                return Results.Problem(e.Message, statusCode: StatusCodes.Status400BadRequest);
            }
        });
        return app;
    }
}

public sealed record PreviewRequest(string? Markdown);

/// <summary>Adds the author's role to the session, so a policy needs no query of its own.</summary>
public sealed class AuthorClaimsFactory(UserManager<AppUser> users, RoleManager<IdentityRole> roles, IOptions<IdentityOptions> options)
    : UserClaimsPrincipalFactory<AppUser, IdentityRole>(users, roles, options)
{
    protected override async Task<ClaimsIdentity> GenerateClaimsAsync(AppUser user)
    {
        var identity = await base.GenerateClaimsAsync(user);
        identity.AddClaim(new Claim(AuthorPolicies.RoleClaim, user.Role.ToString()));

        return identity;
    }
}
