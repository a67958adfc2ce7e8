using System.Security.Cryptography;

namespace Newsletter.Web.Infrastructure;

/// <summary>
/// A random key this installation makes once and keeps under data/keys, beside the data-protection keys
/// (back them up together: a lost key turns every link it signed into a forgery).
/// </summary>
public static class SecretKeyFile
{
    public static byte[] LoadOrCreate(AppPaths paths, string name)
    {
        var path = Path.Combine(paths.DataFolder, "keys", name);
        if (!File.Exists(path))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            try
            {
                // CreateNew: two processes starting at once must not each write a key of their own.
                using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
                file.Write(RandomNumberGenerator.GetBytes(32));
            }
            catch (IOException) when (File.Exists(path))
            {
                // Another process made it first; read theirs.
            }
        }

        return File.ReadAllBytes(path);
    }
}
