namespace Newsletter.Web.Mail;

/// <summary>Renders a template from templates/email and sends it through the configured transport.</summary>
public sealed class TransactionalMail
{
    public Task SendAsync(string template, string toEmail, string? toName, IDictionary<string, object?> model, CancellationToken ct) =>
        throw new NotImplementedException($"{template} {toEmail} {toName} {model.Count} {ct}");
}
