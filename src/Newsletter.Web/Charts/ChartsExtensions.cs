namespace Newsletter.Web.Charts;

public static class ChartsExtensions
{
    /// <summary>The dashboard's and the progress page's charts: server-rendered SVG from the tables the app already keeps.</summary>
    public static WebApplicationBuilder AddCharts(this WebApplicationBuilder builder)
    {
        builder.Services.AddScoped<ReaderHistory>();
        builder.Services.AddScoped<IssueActivity>();
        return builder;
    }
}
