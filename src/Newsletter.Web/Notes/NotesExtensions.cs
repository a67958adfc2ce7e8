using Newsletter.Web.Content;

namespace Newsletter.Web.Notes;

public static class NotesExtensions
{
    public static WebApplicationBuilder AddNotes(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<MarkdownRenderer>();
        builder.Services.AddSingleton<ContentChanges>();
        builder.Services.AddScoped<NoteImporter>();
        builder.Services.AddScoped<NoteExporter>();
        return builder;
    }
}
