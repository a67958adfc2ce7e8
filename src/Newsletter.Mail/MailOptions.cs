namespace Newsletter.Mail;

/// <summary>The "Mail" section of appsettings.json. Paths are resolved to absolute ones by the app.</summary>
public sealed class MailOptions
{
    /// <summary>"Pickup" (write .eml files, the default) or "Smtp".</summary>
    public string Transport { get; set; } = "Pickup";

    /// <summary>The address messages come from.</summary>
    public string FromAddress { get; set; } = "newsletter@localhost";

    /// <summary>The name shown as the sender.</summary>
    public string FromName { get; set; } = "Newsletter";

    /// <summary>Where replies go, when not the From address.</summary>
    public string ReplyTo { get; set; } = "";

    /// <summary>Folder for the Pickup transport (absolute).</summary>
    public string PickupFolder { get; set; } = "";

    /// <summary>Folder of the Liquid email templates (absolute).</summary>
    public string TemplatesFolder { get; set; } = "";

    /// <summary>Settings of the Smtp transport.</summary>
    public SmtpOptions Smtp { get; set; } = new();
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

    /// <summary>Accept any server certificate. Only for a self-signed development server; logged as a warning.</summary>
    public bool AllowInvalidCertificates { get; set; }

    /// <summary>Open connections kept for reuse.</summary>
    public int PoolSize { get; set; } = 4;

    /// <summary>A pooled connection idle longer than this is closed rather than reused.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Name announced in EHLO; the machine name when empty.</summary>
    public string LocalDomain { get; set; } = "";
}
