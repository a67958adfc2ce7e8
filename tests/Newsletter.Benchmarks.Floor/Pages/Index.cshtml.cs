using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;

public sealed class IndexModel(FloorDb db) : PageModel
{
    public List<Post> Posts { get; private set; } = [];

    public async Task OnGetAsync() => Posts = await db.Posts.OrderByDescending(p => p.Date).Take(10).ToListAsync();
}
