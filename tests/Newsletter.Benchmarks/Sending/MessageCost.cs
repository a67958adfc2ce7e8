using System.Diagnostics;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using MimeKit;
using Newsletter.Mail;
using Newsletter.Web.Infrastructure;
using Newsletter.Web.Sending;
using Newsletter.Web.Site;
using Newsletter.Web.Subscribers;

namespace Newsletter.Benchmarks.Sending;

/// <summary>
/// Where a message's CPU goes, in this process on one thread: building each reader's copy from the
/// prepared issue, and writing it as SMTP would, against writing a pre-built message. s1 reports the whole
/// app's CPU per message; this splits off the part that is ours alone.
/// </summary>
internal static class MessageCost
{
    public static async Task<int> RunAsync(int count)
    {
        var copies = await ReaderCopies.CreateAsync(Bench.Temp("messages"));
        var format = new FormatOptions { NewLineFormat = NewLineFormat.Dos };

        static void Write(MimeMessage m, FormatOptions format)
        {
            // What MailKit's SmtpClient does to every message: pick transfer encodings, then write it out.
            m.Prepare(EncodingConstraint.EightBit, 998);
            m.WriteTo(format, Stream.Null);
        }

        var prebuilt = Enumerable.Range(0, 1000).Select(copies.Build).ToList();
        Console.WriteLine($"a reader's copy is {ReaderCopies.Size(prebuilt[0]) / 1024.0:F1} KB ({copies.Prepared.Html.Length / 1024.0:F1} KB of HTML, {copies.Prepared.Text.Length / 1024.0:F1} KB of text)");
        var build = Time(count, i => copies.Build(i).Dispose());
        var buildAndWrite = Time(count, i =>
        {
            using var m = copies.Build(i);
            Write(m, format);
        });
        var writePrebuilt = Time(count, i => Write(prebuilt[i % prebuilt.Count], format));

        // With DKIM (s2): ours, and MimeKit's DkimSigner with the same .NET RSA, the signer before issue 15.
        using var rsa = System.Security.Cryptography.RSA.Create(2048);
        using var ours = new DkimMessageSigner(rsa.ExportPkcs8PrivateKeyPem(), "field-notes.example", "bench");
        var signed = Time(count / 4, i =>
        {
            using var m = copies.Build(i);
            ours.Sign(m, EncodingConstraint.EightBit);
            m.WriteTo(format, Stream.Null);
        });
        var before = new MimeKitWithDotNetRsa(rsa).Init();
        var signedBefore = Time(count / 4, i =>
        {
            using var m = copies.Build(i);
            m.Prepare(EncodingConstraint.SevenBit);
            before.Sign(m, [.. DkimMessageSigner.SignedHeaders]);
            m.WriteTo(format, Stream.Null);
        });
        var digest = new byte[32];
        var rsaOnly = Time(count / 4, _ => rsa.SignHash(digest, System.Security.Cryptography.HashAlgorithmName.SHA256, System.Security.Cryptography.RSASignaturePadding.Pkcs1));

        Console.WriteLine($"per message, one thread, CPU time, {count:N0} messages of a ~20 KB issue (load average {Bench.LoadAverage}):");
        Console.WriteLine($"  build the reader's copy              {build,8:F1} us");
        Console.WriteLine($"  build and write it as SMTP would      {buildAndWrite,8:F1} us");
        Console.WriteLine($"  write a pre-built message (baseline)  {writePrebuilt,8:F1} us");
        Console.WriteLine($"  build, DKIM-sign, write (ours)        {signed,8:F1} us");
        Console.WriteLine($"  the same, MimeKit's DkimSigner with .NET RSA (before issue 15) {signedBefore,8:F1} us");
        Console.WriteLine($"  the RSA signature alone               {rsaOnly,8:F1} us");
        return 0;
    }

    /// <summary>The signer before issue 15: MimeKit canonicalises and hashes, .NET's RSA signs.</summary>
    private sealed class MimeKitWithDotNetRsa(System.Security.Cryptography.RSA rsa)
        : MimeKit.Cryptography.DkimSigner(new MemoryStream(System.Text.Encoding.ASCII.GetBytes(rsa.ExportPkcs8PrivateKeyPem())), "field-notes.example", "bench", MimeKit.Cryptography.DkimSignatureAlgorithm.RsaSha256)
    {
        public MimeKitWithDotNetRsa Init()
        {
            HeaderCanonicalizationAlgorithm = MimeKit.Cryptography.DkimCanonicalizationAlgorithm.Relaxed;
            BodyCanonicalizationAlgorithm = MimeKit.Cryptography.DkimCanonicalizationAlgorithm.Relaxed;
            return this;
        }

        protected override Org.BouncyCastle.Crypto.ISigner CreateSigningContext() => new Signer(rsa);

        private sealed class Signer(System.Security.Cryptography.RSA rsa) : Org.BouncyCastle.Crypto.ISigner
        {
            private readonly System.Security.Cryptography.IncrementalHash _hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);

            public string AlgorithmName => "SHA-256withRSA";

            public void Init(bool forSigning, Org.BouncyCastle.Crypto.ICipherParameters parameters)
            {
            }

            public void Update(byte input) => _hash.AppendData([input]);

            public void BlockUpdate(byte[] input, int inOff, int inLen) => _hash.AppendData(input, inOff, inLen);

            public void BlockUpdate(ReadOnlySpan<byte> input) => _hash.AppendData(input);

            public int GetMaxSignatureSize() => rsa.KeySize / 8;

            public byte[] GenerateSignature()
            {
                var signature = rsa.SignHash(_hash.GetHashAndReset(), System.Security.Cryptography.HashAlgorithmName.SHA256, System.Security.Cryptography.RSASignaturePadding.Pkcs1);
                _hash.Dispose();
                return signature;
            }

            public bool VerifySignature(byte[] signature) => throw new NotSupportedException();

            public void Reset() => _hash.GetHashAndReset();
        }
    }

    private static double Time(int count, Action<int> action)
    {
        for (var i = 0; i < Math.Min(2000, count); i++)
        {
            action(i);
        }

        // CPU time, not wall time: other processes on a busy machine then do not count against us.
        var before = Process.GetCurrentProcess().TotalProcessorTime;
        for (var i = 0; i < count; i++)
        {
            action(i);
        }

        return (Process.GetCurrentProcess().TotalProcessorTime - before).TotalMicroseconds / count;
    }
}

/// <summary>
/// Readers' copies of the benchmark issue made by the app's own code (templates, links, headers), so the
/// baselines send exactly the bytes the app sends.
/// </summary>
internal sealed class ReaderCopies
{
    private readonly IssueMessages _messages;

    private ReaderCopies(IssueMessages messages, PreparedIssue prepared)
    {
        _messages = messages;
        Prepared = prepared;
    }

    public PreparedIssue Prepared { get; }

    public static async Task<ReaderCopies> CreateAsync(string dir)
    {
        var data = Path.Combine(dir, "data");
        var (html, text) = SendSeed.Body(20 * 1024);
        var database = BenchDatabase.Create(Newsletter.Web.Data.Providers.DatabaseProvider.Sqlite, data);
        var issueId = await SendSeed.CreateAsync(database, 1, html, text);
        var db = database.Open();
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Data:Folder"] = data }).Build();
        var keys = new InstallationKeys(() => { var keysDb = database.Open(); return (keysDb, keysDb); }, new AppPaths(dir, configuration));
        var sealedNumbers = new SealedNumbers(keys);
        var messages = new IssueMessages(
            db,
            new TemplateRenderer(Path.Combine(Bench.Root, "templates", "email")),
            new SubscriberTokens(DataProtectionProvider.Create(new DirectoryInfo(Path.Combine(dir, "keys"))), Options.Create(new SubscriptionOptions()), TimeProvider.System, keys, sealedNumbers),
            new MailOptions { FromAddress = "notes@field-notes.example", FromName = "Field Notes" },
            Options.Create(new SiteOptions { BaseUrl = "http://127.0.0.1:50000", Title = "Field Notes" }),
            Options.Create(new SendingOptions()),
            new VerpAddresses(keys, sealedNumbers),
            new MessageIds(keys, sealedNumbers),
            TimeProvider.System);
        return new ReaderCopies(messages, await messages.PrepareAsync(issueId, CancellationToken.None));
    }

    public MimeMessage Build(int i) => _messages.Build(Prepared, new Recipient(i, $"reader{i:D7}@example.org", $"Reader {i}", SubscriberStatus.Active, null), i).Message;

    public static long Size(MimeMessage message)
    {
        using var stream = new MemoryStream();
        message.WriteTo(new FormatOptions { NewLineFormat = NewLineFormat.Dos }, stream);
        return stream.Length;
    }
}
