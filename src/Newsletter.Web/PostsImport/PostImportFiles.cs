using System.Text;
using Microsoft.Extensions.Options;
using Newsletter.Web.Data.Providers;

namespace Newsletter.Web.PostsImport;

/// <summary>
/// Where an export waits between the preview and the import: posts/{token} among the <see cref="ImportFiles"/>
/// (data/imports on SQLite, the database on PostgreSQL, so the "Import" click may reach another node), and the
/// author's "Import" acts on exactly the bytes the preview showed, without uploading (or fetching) them again.
/// </summary>
public sealed class PostImportFiles(ImportFiles files, SafeDownloader downloader, IOptions<PostImportOptions> options)
{
    public long MaxBytes => options.Value.MaxFileBytes;

    /// <summary>
    /// An http(s) address, fetched within the size limit through the downloader that refuses private addresses. The
    /// admin page takes only this: a path typed into its box would read the server's own files as the app's user.
    /// </summary>
    public async Task<(string Name, byte[] Content)> FetchAsync(string url, CancellationToken ct)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw new PostImportException("A feed's address starts with https:// (or http://). To import an export file, choose it above.");
        }

        try
        {
            return (url, await downloader.GetAsync(url, MaxBytes, ct));
        }
        catch (DownloadRefusedException e)
        {
            throw new PostImportException($"The feed could not be fetched: {e.Message}");
        }
    }

    /// <summary>A file path or an http(s) URL, for the import-posts verb, run by whoever runs the server.</summary>
    public async Task<(string Name, byte[] Content)> LoadAsync(string fileOrUrl, CancellationToken ct)
    {
        if (fileOrUrl.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || fileOrUrl.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
        {
            return await FetchAsync(fileOrUrl, ct);
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

        // Counted as read too, not only from the file's length: /dev/zero, a pipe or a /proc file says 0 and never ends.
        await using var stream = new FileStream(info.FullName, FileMode.Open, FileAccess.Read, FileShare.Read, 81920, useAsync: true);
        return (info.Name, await SafeDownloader.ReadAtMostAsync(stream, MaxBytes,
            () => new PostImportException($"{info.Name} is over the limit of {MaxBytes / 1024 / 1024} MB (PostImport:MaxFileMegabytes)."), ct));
    }

    /// <summary>How long a preview waits for its Import click; an abandoned one (up to the size limit each) goes then.</summary>
    public static readonly TimeSpan PreviewLifetime = TimeSpan.FromDays(1);

    public async Task<string> KeepAsync(string name, byte[] content, CancellationToken ct)
    {
        // Each new preview clears the ones abandoned before it: "Start again", a closed tab, nothing to import.
        await files.PurgeAsync("posts/", PreviewLifetime, ct);
        var token = Guid.NewGuid().ToString("N");
        // The name first: a token whose export is there always has its name too.
        await files.SaveAsync($"posts/{token}.name", new MemoryStream(Encoding.UTF8.GetBytes(Path.GetFileName(name))), ct);
        await files.SaveAsync($"posts/{token}", new MemoryStream(content), ct);
        return token;
    }

    public async Task<(string Name, byte[] Content)?> TakeAsync(string? token, bool remove, CancellationToken ct)
    {
        // The token names a file: only the exact shape KeepAsync makes is looked up.
        if (token is null || !Guid.TryParseExact(token, "N", out _))
        {
            return null;
        }

        var content = await ReadAllAsync($"posts/{token}", ct);
        var name = content is null ? null : await ReadAllAsync($"posts/{token}.name", ct);
        if (content is null || name is null)
        {
            return null;
        }

        // Taken by deleting it: of two clicks at once (on one node or two), only the one that deletes it imports.
        if (remove && !await files.DeleteAsync($"posts/{token}", ct))
        {
            return null;
        }

        if (remove)
        {
            await files.DeleteAsync($"posts/{token}.name", ct);
        }

        return (Encoding.UTF8.GetString(name), content);
    }

    private async Task<byte[]?> ReadAllAsync(string name, CancellationToken ct)
    {
        if (await files.OpenReadAsync(name, ct) is not { } file)
        {
            return null;
        }

        await using (file)
        {
            var bytes = new MemoryStream();
            try
            {
                await file.CopyToAsync(bytes, ct);
            }
            catch (IOException)
            {
                // Deleted while read: another click (here or on another node) took this preview first.
                return null;
            }

            return bytes.ToArray();
        }
    }
}
