using Newsletter.Web.Data.Providers;

namespace Newsletter.Web.Images;

public static class ImagesExtensions
{
    public static WebApplicationBuilder AddImages(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<ImageOptions>().Bind(builder.Configuration.GetSection("Images")).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddScoped<ImageStore>();
        // One host keeps images as files in the data folder; several PostgreSQL nodes share no folder, so there the
        // database holds the bytes and every node can serve every image (README, "Images").
        if (DatabaseSettings.From(builder.Configuration).Provider == DatabaseProvider.PostgreSql)
        {
            builder.Services.AddScoped<ImageBlobs, DatabaseImageBlobs>();
        }
        else
        {
            builder.Services.AddScoped<ImageBlobs, FileImageBlobs>();
        }

        return builder;
    }

    public static WebApplication MapImages(this WebApplication app)
    {
        // Public: an email's images load in the reader's mail client, signed in to nothing. The name is the content's
        // hash, so the answer never changes and may be cached for a year by anyone.
        app.MapGet(ImageStore.PublicPrefix + "{file}", async (string file, HttpContext http, ImageStore images, CancellationToken ct) =>
        {
            if (await images.OpenAsync(file, ct) is not { } found)
            {
                return Results.NotFound();
            }

            http.Response.Headers.CacheControl = "public, max-age=31536000, immutable";
            return Results.Stream(found.Content, found.Image.ContentType, entityTag: new Microsoft.Net.Http.Headers.EntityTagHeaderValue($"\"{found.Image.Hash}\""));
        }).AllowAnonymous();
        return app;
    }
}
