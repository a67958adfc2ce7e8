using Microsoft.Extensions.Options;
using Newsletter.Web.Infrastructure;

namespace Newsletter.Web.PostsImport;

/// <summary>
/// Where an export waits between the preview and the import: data/imports/posts/{token}, so the author's
/// "Import" acts on exactly the bytes the preview showed, without uploading (or fetching) them again.
/// </summary>
public sealed class PostImportFiles(AppPaths paths, SafeDownloader downloader, IOptions<PostImportOptions> options)
{
    private string Folder => Path.Combine(paths.DataFolder, "imports", "posts");

    public long MaxBytes => options.Value.MaxFileBytes;

    /// <summary>A file path or an http(s) URL, read within the size limit.</summary>
    public async Task<(string Name, byte[] Content)> LoadAsync(string fileOrUrl, CancellationToken ct)
    {
        if (fileOrUrl.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || fileOrUrl.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                return (fileOrUrl, await downloader.GetAsync(fileOrUrl, MaxBytes, ct));
            }
            catch (DownloadRefusedException e)
            {
                throw new PostImportException($"The feed could not be fetched: {e.Message}");
            }
        }

        var info = new FileInfo(fileOrUrl);
        if (!info.Exists)
        {
            throw new PostImportException($"{fileOrUrl}: no such file (looked for {info.FullName}).");
        }

        if (info.Length > MaxBytes)
        {
            throw new PostImportException($"{info.Name} is {info.Length / 1024.0 / 1024.0:0.#} MB; the limit is {MaxBytes / 1024 / 1024} MB (PostImport:MaxFileMegabytes).");
        }

        return (info.Name, await File.ReadAllBytesAsync(info.FullName, ct));
    }

    public async Task<string> KeepAsync(string name, byte[] content, CancellationToken ct)
    {
        Directory.CreateDirectory(Folder);
        var token = Guid.NewGuid().ToString("N");
        await File.WriteAllBytesAsync(Path.Combine(Folder, token), content, ct);
        await File.WriteAllTextAsync(Path.Combine(Folder, token + ".name"), Path.GetFileName(name), ct);
        return token;
    }

    public async Task<(string Name, byte[] Content)?> TakeAsync(string? token, bool remove, CancellationToken ct)
    {
        // The token names a file: only the exact shape KeepAsync makes is looked up.
        if (token is null || !Guid.TryParseExact(token, "N", out _) || !File.Exists(Path.Combine(Folder, token)))
        {
            return null;
        }

        var path = Path.Combine(Folder, token);
        var result = (await File.ReadAllTextAsync(path + ".name", ct), await File.ReadAllBytesAsync(path, ct));
        if (remove)
        {
            File.Delete(path);
            File.Delete(path + ".name");
        }

        return result;
    }
}
