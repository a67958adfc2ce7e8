using Microsoft.AspNetCore.Razor.TagHelpers;

namespace Newsletter.Web.Site;

/// <summary>
/// The framework's validation summary writes an empty <c>&lt;li style="display:none"&gt;</c> for client-side
/// validation, which this site doesn't use. The Content-Security-Policy allows no inline style, so every form
/// page logged a CSP violation in the browser; the same placeholder is kept with the <c>hidden</c> attribute.
/// Runs after the framework's tag helper (Order -1000).
/// </summary>
[HtmlTargetElement("div", Attributes = "asp-validation-summary")]
public sealed class ValidationSummaryWithoutInlineStyle : TagHelper
{
    public override int Order => 0;

    public override void Process(TagHelperContext context, TagHelperOutput output)
    {
        var html = output.PostContent.GetContent();
        if (html.Contains("style=\"display:none\"", StringComparison.Ordinal))
        {
            output.PostContent.SetHtmlContent(html.Replace("<li style=\"display:none\"></li>", "<li hidden></li>", StringComparison.Ordinal));
        }
    }
}
