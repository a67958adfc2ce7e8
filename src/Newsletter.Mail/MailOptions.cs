namespace Newsletter.Mail;

/// <summary>The "Mail" section of appsettings.json. Paths are resolved to absolute ones by the app.</summary>
public sealed class MailOptions
{
    /// <summary>"Pickup" (write .eml files, the default) or "Smtp".</summary>
    public string Transport { get; set; } = "Pickup";

    /// <summary>The address messages come from.</summary>
    public string FromAddress { get; set; } = "newsletter@localhost";

    /// <summary>The domain of <see cref="FromAddress"/>, which the Message-IDs of our emails end with.</summary>
    public string MessageDomain => FromAddress.Contains('@', StringComparison.Ordinal) ? FromAddress[(FromAddress.LastIndexOf('@') + 1)..] : "localhost";

    /// <summary>The name shown as the sender.</summary>
    public string FromName { get; set; } = "Newsletter";

    /// <summary>Where replies go, when not the From address.</summary>
    public string ReplyTo { get; set; } = "";

    /// <summary>Folder for the Pickup transport (absolute).</summary>
    public string PickupFolder { get; set; } = "";

    /// <summary>
    /// Where the Pickup transport writes mail about author accounts (password resets, invitations): a folder
    /// of its own inside <see cref="PickupFolder"/>. The admin's Outbox lists only the files directly in
    /// <see cref="PickupFolder"/>, so one author never sees another's links there, and no reader's address can
    /// move a message into or out of this folder.
    /// </summary>
    public string AccountPickupFolder => Path.Combine(PickupFolder, "account");

    /// <summary>Whether mail is written to <see cref="PickupFolder"/> instead of being sent.</summary>
    public bool UsesPickup => Transport.Trim().Equals("pickup", StringComparison.OrdinalIgnoreCase);

    /// <summary>Folder of the Liquid email templates (absolute).</summary>
    public string TemplatesFolder { get; set; } = "";

    /// <summary>Settings of the Smtp transport.</summary>
    public SmtpOptions Smtp { get; set; } = new();

    /// <summary>DKIM signing of every message the transport sends; off by default.</summary>
    public DkimOptions Dkim { get; set; } = new();
}

/// <summary>Where and how to reach the SMTP server.</summary>
public sealed class SmtpOptions
{
    /// <summary>The server's host name.</summary>
    public string Host { get; set; } = "localhost";

    /// <summary>The server's port.</summary>
    public int Port { get; set; } = 25;

    /// <summary>Auto (by port: 465 TLS on connect, 587 STARTTLS, else STARTTLS when offered), None, StartTls, SslOnConnect, StartTlsWhenAvailable.</summary>
    public string Security { get; set; } = "Auto";

    /// <summary>User name for AUTH; none when empty.</summary>
    public string UserName { get; set; } = "";

    /// <summary>Password for AUTH.</summary>
    public string Password { get; set; } = "";

    /// <summary>
    /// Send the user name and password to a server that offered no TLS. Off by default: with it off, a server
    /// (or anyone on the path) that drops STARTTLS gets a refusal instead of the password. Logged as a warning.
    /// </summary>
    public bool AllowPlainTextAuth { get; set; }

    /// <summary>Accept any server certificate. Only for a self-signed development server; logged as a warning.</summary>
    public bool AllowInvalidCertificates { get; set; }

    /// <summary>
    /// Idle connections kept open for reuse. Sessions beyond this many still get a connection of their
    /// own; it is closed, not pooled, when they end.
    /// </summary>
    public int PoolSize { get; set; } = 4;

    /// <summary>
    /// A pooled connection idle longer than this is closed rather than reused (servers drop idle clients;
    /// Postfix after 300 s). One idle for more than a couple of seconds is checked with NOOP first.
    /// </summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long one SMTP command may wait for the server's answer. A relay that accepts the connection and
    /// then says nothing (frozen, overloaded) turns into a lost connection after this, so an outage shows
    /// within a minute instead of after MailKit's two-minute default per message.
    /// </summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Name announced in EHLO; the machine name when empty.</summary>
    public string LocalDomain { get; set; } = "";
}

/// <summary>DKIM signing: the private key signs, DNS (selector._domainkey.domain) publishes the public key.</summary>
public sealed class DkimOptions
{
    /// <summary>Sign every outgoing message.</summary>
    public bool Enabled { get; set; }

    /// <summary>The signing domain (d=), normally the From address's domain so DMARC aligns.</summary>
    public string Domain { get; set; } = "";

    /// <summary>The selector (s=): the key's name under _domainkey in DNS.</summary>
    public string Selector { get; set; } = "";

    /// <summary>PEM file with the RSA private key, PKCS#1 or PKCS#8 (absolute).</summary>
    public string PrivateKeyPath { get; set; } = "";
}
