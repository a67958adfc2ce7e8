using Hangfire;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Identity.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore;
using Newsletter.Hangfire.Sqlite;

// The least a page of this stack costs to start: EF Core on a SQLite file, ASP.NET Core Identity's stores and
// cookies, Razor Pages, and a Hangfire server on the project's SQLite job storage; one query, one page. Whatever
// Newsletter.Web takes beyond this at start is its own work; what this takes beyond a bare Kestrel is the stack's.
var builder = WebApplication.CreateBuilder(args);
var data = builder.Configuration["Data"] ?? "data";
Directory.CreateDirectory(data);
builder.Services.AddDbContext<FloorDb>(o => o.UseSqlite($"Data Source={Path.Combine(data, "floor.db")}"));
builder.Services.AddIdentity<IdentityUser, IdentityRole>().AddEntityFrameworkStores<FloorDb>();
builder.Services.AddRazorPages();
builder.Services.AddHangfire(c => c.UseNewsletterSqliteStorage(new SqliteStorageOptions { Path = Path.Combine(data, "jobs.db") }));
builder.Services.AddHangfireServer();
var app = builder.Build();
using (var scope = app.Services.CreateScope())
{
    // A throwaway baseline with one table of its own, not the app: EnsureCreated stands in for the app's migrations,
    // and on a restart (the comparison that matters) it only finds the file there.
    var db = scope.ServiceProvider.GetRequiredService<FloorDb>();
    if (db.Database.EnsureCreated())
    {
        db.Posts.Add(new Post { Title = "A first post", Html = "<p>Written to be read back.</p>", Date = DateTime.UtcNow });
        db.SaveChanges();
    }
}

app.UseAuthentication();
app.UseAuthorization();
app.MapRazorPages();
app.Run();

public sealed class Post
{
    public int Id { get; set; }
    public string Title { get; set; } = "";
    public string Html { get; set; } = "";
    public DateTime Date { get; set; }
}

public sealed class FloorDb(DbContextOptions<FloorDb> options) : IdentityDbContext<IdentityUser>(options)
{
    public DbSet<Post> Posts => Set<Post>();
}
