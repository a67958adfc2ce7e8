using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;
using Newsletter.Web.Data;

namespace Newsletter.Tests.Infrastructure;

public class MigrationsTests
{
    [Fact]
    public void TheSqliteMigrationsMatchTheModel()
    {
        // A model change without its migration would reach a fresh database only through EnsureCreated, which
        // the app never calls: the schema and the code would disagree on the first start after an upgrade.
        using var app = new NewsletterApp();
        using var scope = app.Services.CreateScope();
        Assert.False(scope.ServiceProvider.GetRequiredService<AppDbContext>().Database.HasPendingModelChanges(),
            "The model has changes no migration holds: run `dotnet ef migrations add <Name> -o Data/Migrations` in src/Newsletter.Web.");
    }
}
