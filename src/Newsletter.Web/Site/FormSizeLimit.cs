using Microsoft.AspNetCore.Http.Features;

namespace Newsletter.Web.Site;

public static class FormSizeLimit
{
    /// <summary>
    /// Reads every posted form once, before any page or filter does, so that a form over Kestrel's body limit or
    /// over <see cref="FormOptions"/>' value limits is answered 413 with the error page. Left to the pages, the
    /// antiforgery filter swallows the failure as "bad token" and model binding fails again later; either way the
    /// reader saw a 500. Runs after routing, so an endpoint's own [RequestSizeLimit] (the import upload) applies.
    /// The form is cached on the request, so the page reads it for free.
    /// </summary>
    public static IApplicationBuilder UseFormSizeLimit(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        // Only a POST: the error page, re-executed as a GET, must not read the failed form again.
        // An endpoint that reads its body as it is (raw mail) gets it unread, whatever type the sender claimed:
        // curl's --data-binary says application/x-www-form-urlencoded unless told otherwise.
        if (HttpMethods.IsPost(context.Request.Method) && context.Request.HasFormContentType && context.GetEndpoint()?.Metadata.GetMetadata<RawBody>() is null)
        {
            try
            {
                await context.Request.ReadFormAsync(context.RequestAborted);
            }
            catch (Exception e) when (e is InvalidDataException || (e is BadHttpRequestException bad && bad.StatusCode == StatusCodes.Status413PayloadTooLarge))
            {
                // The form readers say "limit" for every size they refuse; anything else they throw (a multipart
                // type without its boundary) is a malformed form, not a large one.
                context.Response.StatusCode = e is InvalidDataException && !e.Message.Contains("limit", StringComparison.OrdinalIgnoreCase)
                    ? StatusCodes.Status400BadRequest
                    : StatusCodes.Status413PayloadTooLarge;
                return;
            }
            catch (IOException) when (!context.RequestAborted.IsCancellationRequested)
            {
                // A multipart body cut off before its closing boundary: a malformed request, answered as one instead
                // of a 500 and an error in the log.
                context.Response.StatusCode = StatusCodes.Status400BadRequest;
                return;
            }
        }

        await next(context);
    });
}

/// <summary>Endpoint metadata: the body is read raw by the endpoint, never as a form, whatever its content type says.</summary>
public sealed class RawBody;
