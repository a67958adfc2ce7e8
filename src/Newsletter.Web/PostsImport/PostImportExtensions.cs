namespace Newsletter.Web.PostsImport;

public static class PostImportExtensions
{
    public static WebApplicationBuilder AddPostImport(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<PostImportOptions>().Bind(builder.Configuration.GetSection("PostImport")).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<SafeDownloader>();
        builder.Services.AddScoped<PostImporter>();
        builder.Services.AddScoped<PostImportFiles>();
        return builder;
    }
}
