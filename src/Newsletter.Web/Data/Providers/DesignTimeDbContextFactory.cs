using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace Newsletter.Web.Data.Providers;

/// <summary>
/// For `dotnet ef`: builds the context for either provider without starting the app, so each migration set
/// gets its migrations. Scaffolding connects to no server, so the connection strings are placeholders:
/// <c>dotnet ef migrations add NAME -p src/Newsletter.Web -o Data/Migrations/PostgreSql -- --provider PostgreSql</c>.
/// </summary>
internal sealed class DesignTimeDbContextFactory : IDesignTimeDbContextFactory<AppDbContext>
{
    public AppDbContext CreateDbContext(string[] args)
    {
        var name = args.SkipWhile(a => a != "--provider").Skip(1).FirstOrDefault();
        var provider = DatabaseSettings.From(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Database:Provider"] = name,
            ["Database:ConnectionString"] = "placeholder",
        }).Build()).Provider;
        var connectionString = provider == DatabaseProvider.PostgreSql ? "Host=localhost;Database=newsletter" : "Data Source=design-time.db";
        var options = new DbContextOptionsBuilder<AppDbContext>();
        // From the code, not the compiled model: migrations and `dbcontext optimize` are made from what the code says.
        options.UseDatabase(provider, connectionString, compiledModel: false);
        return new AppDbContext(options.Options);
    }
}
