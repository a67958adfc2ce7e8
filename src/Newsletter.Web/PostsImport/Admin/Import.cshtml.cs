using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Newsletter.Web.Admin;

namespace Newsletter.Web.PostsImport.Admin;

/// <summary>
/// Two steps: the export (a file, or a feed's URL) is read and the plan shown, titles, dates, slugs and what will
/// happen to each; only "Import" changes anything, on the very bytes the preview read.
/// </summary>
[RequestSizeLimit(500L * 1024 * 1024)]
[RequestFormLimits(MultipartBodyLengthLimit = 500L * 1024 * 1024)]
public sealed class ImportModel(PostImportFiles files, PostImporter importer) : PageModel
{
    public ImportPlan? Plan { get; private set; }

    public PostImportResult? Result { get; private set; }

    public string? Token { get; private set; }

    public string Target { get; private set; } = "issues";

    public void OnGet()
    {
    }

    [Requires(AuthorPolicies.Send)]
    public async Task<IActionResult> OnPostPreviewAsync(IFormFile? file, string? url, string? target, CancellationToken ct)
    {
        Target = target == "notes" ? "notes" : "issues";
        try
        {
            (string Name, byte[] Content) export;
            if (file is { Length: > 0 })
            {
                if (file.Length > files.MaxBytes)
                {
                    throw new PostImportException($"{Path.GetFileName(file.FileName)} is {file.Length / 1024.0 / 1024.0:0.#} MB; the limit is {files.MaxBytes / 1024 / 1024} MB (PostImport:MaxFileMegabytes).");
                }

                using var buffer = new MemoryStream();
                await file.CopyToAsync(buffer, ct);
                export = (Path.GetFileName(file.FileName), buffer.ToArray());
            }
            else if (!string.IsNullOrWhiteSpace(url))
            {
                export = await files.FetchAsync(url.Trim(), ct);
            }
            else
            {
                throw new PostImportException("Choose an export file, or give a feed's address.");
            }

            Plan = await importer.PlanAsync(PostSources.Read(export.Name, export.Content, files.MaxBytes), TargetOf(Target), ct);
            Token = await files.KeepAsync(export.Name, export.Content, ct);
        }
        catch (PostImportException e)
        {
            ModelState.AddModelError("", e.Message);
        }

        return Page();
    }

    [Requires(AuthorPolicies.Send)]
    public async Task<IActionResult> OnPostImportAsync(string? token, string? target, [FromServices] Audit.AuditLog audit, CancellationToken ct)
    {
        Target = target == "notes" ? "notes" : "issues";
        // Before the preview is taken, so the author can fix the folder and click again.
        if (importer.CannotWrite(TargetOf(Target)) is { } refused)
        {
            ModelState.AddModelError("", refused);
            return Page();
        }

        if (await files.TakeAsync(token, remove: true, ct) is not { } export)
        {
            ModelState.AddModelError("", "That preview has expired or was already imported. Upload the export again.");
            return Page();
        }

        // Planned again: anything imported since the preview is now "already imported", never doubled.
        var plan = await importer.PlanAsync(PostSources.Read(export.Name, export.Content, files.MaxBytes), TargetOf(Target), ct);
        Result = await importer.CommitAsync(plan, User.FindFirst(System.Security.Claims.ClaimTypes.NameIdentifier)?.Value ?? "", ct);
        await audit.RecordAsync(User, Audit.AuditActions.PostsImport, "import", export.Name, $"{plan.Platform} as {Target}: {Result}", ct);
        return Page();
    }

    private static PostTarget TargetOf(string target) => target == "notes" ? PostTarget.Notes : PostTarget.Issues;
}
