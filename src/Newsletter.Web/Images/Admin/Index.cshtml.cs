using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Web.Admin;
using Newsletter.Web.Data;

namespace Newsletter.Web.Images.Admin;

/// <summary>
/// Uploads an image. The editors' script posts here and inserts the answer's Markdown at the cursor; without
/// script the same form lands on this page, which shows the Markdown to paste.
/// </summary>
[RequestSizeLimit(MaxBody)]
[RequestFormLimits(MultipartBodyLengthLimit = MaxBody)]
public sealed class IndexModel(AppDbContext db, ImageStore images, IOptions<ImageOptions> options) : PageModel
{
    /// <summary>Above the largest <see cref="ImageOptions.MaxUploadMegabytes"/>, so the configured limit answers with its own words.</summary>
    private const long MaxBody = 101L * 1024 * 1024;

    public IReadOnlyList<StoredImage> Recent { get; private set; } = [];

    public StoredImage? Uploaded { get; private set; }

    public string? Markdown { get; private set; }

    public string? Error { get; private set; }

    public string? ReturnUrl { get; private set; }

    public ImageOptions Limits => options.Value;

    public async Task OnGetAsync(CancellationToken ct) => await LoadAsync(ct);

    [Requires(AuthorPolicies.Write)]
    public async Task<IActionResult> OnPostAsync(IFormFile? file, string? alt, string? returnUrl, CancellationToken ct)
    {
        ReturnUrl = Url.IsLocalUrl(returnUrl) ? returnUrl : null;
        alt = Alt(alt);
        var status = StatusCodes.Status400BadRequest;
        if (file is null || file.Length == 0)
        {
            Error = "Choose an image file to upload.";
        }
        else if (file.Length > options.Value.MaxUploadBytes)
        {
            status = StatusCodes.Status413PayloadTooLarge;
            Error = $"The file is {file.Length / 1024.0 / 1024.0:N1} MB; images up to {options.Value.MaxUploadMegabytes} MB are taken. Export a smaller copy.";
        }
        else if (alt.Length == 0)
        {
            Error = "Describe the image in a few words (alt text): readers with images off, and screen readers, get only that.";
        }
        else
        {
            using var buffer = new MemoryStream((int)file.Length);
            await file.CopyToAsync(buffer, ct);
            try
            {
                Uploaded = await images.SaveAsync(buffer.ToArray(), User.FindFirst(System.Security.Claims.ClaimTypes.NameIdentifier)?.Value ?? "", ct);
                Markdown = $"![{alt}]({Uploaded.Path})";
            }
            catch (ImageRejectedException e)
            {
                Error = e.Message;
            }
        }

        if (WantsJson)
        {
            return Error is null
                ? new JsonResult(new { path = Uploaded!.Path, markdown = Markdown, width = Uploaded.Width, height = Uploaded.Height, bytes = Uploaded.Length })
                : new JsonResult(new { error = Error }) { StatusCode = status };
        }

        if (Error is not null)
        {
            Response.StatusCode = status;
        }

        await LoadAsync(ct);
        return Page();
    }

    private bool WantsJson => Request.Headers.Accept.ToString().Contains("application/json", StringComparison.OrdinalIgnoreCase);

    /// <summary>One line, without the brackets that would end the Markdown image early.</summary>
    private static string Alt(string? alt) =>
        new string((alt ?? "").Where(c => !char.IsControl(c) && c is not ('[' or ']')).ToArray()).Trim() is var s && s.Length > 300 ? s[..300] : s;

    private async Task LoadAsync(CancellationToken ct) =>
        Recent = await db.Set<StoredImage>().AsNoTracking().OrderByDescending(i => i.CreatedAt).Take(24)
            .Select(i => new StoredImage { Hash = i.Hash, Extension = i.Extension, Width = i.Width, Height = i.Height, Length = i.Length, CreatedAt = i.CreatedAt })
            .ToListAsync(ct);
}
