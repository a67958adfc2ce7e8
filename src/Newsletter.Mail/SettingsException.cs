namespace Newsletter.Mail;

/// <summary>
/// A setting the app can't run with: an unknown transport, a DKIM key that isn't there, a connection string that
/// doesn't parse. The web app ends the process with its sentence and exit code 78 instead of a stack trace and an
/// abort (<c>StartFailure</c>). It lives in the mail library because that is the lowest project whose settings can be
/// wrong, and its transports and signer throw it too.
/// </summary>
public sealed class SettingsException(string message, Exception? inner = null) : InvalidOperationException(message, inner);
