using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.Extensions.Options;
using Newsletter.Web.Site;

namespace Newsletter.Web.Archive;

/// <summary>
/// Search across public notes and issues. Every input gets a page: nothing searchable, too long and no
/// matches each say so in words, and no query reaches FTS5 unescaped (SearchQuery).
/// </summary>
public sealed class SearchModel(SearchIndex index, IOptions<ArchiveOptions> options, IOptions<SiteOptions> site) : PageModel
{
    [BindProperty(SupportsGet = true, Name = "q")]
    public string? Q { get; set; }

    public int PageNumber => Newsletter.Web.Archive.PublicContent.PageOf(Request.Query["page"]);

    public SearchQuery? Query { get; private set; }

    public SearchResults Results { get; private set; } = SearchResults.None;

    public Pager Pager { get; private set; } = Pager.Empty;

    public SiteOptions Site => site.Value;

    public bool Asked => !string.IsNullOrWhiteSpace(Q);

    public async Task<IActionResult> OnGetAsync(CancellationToken ct)
    {
        Query = SearchQuery.Parse(Q);
        if (Query is null)
        {
            return Page();
        }

        var size = Math.Clamp(options.Value.SearchPageSize, 1, 100);
        if (PageNumber < 1)
        {
            return NotFound();
        }

        Results = await index.SearchAsync(Query, PageNumber, size, ct);
        Pager = new Pager(PageNumber, size, Results.Total, "/search?q=" + Uri.EscapeDataString(Query.Text));
        return Results.Total > 0 && !Pager.IsValid ? NotFound() : Page();
    }
}
