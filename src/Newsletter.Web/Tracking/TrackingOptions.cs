namespace Newsletter.Web.Tracking;

/// <summary>The <c>Tracking</c> section of appsettings.json.</summary>
public sealed class TrackingOptions
{
    /// <summary>
    /// Count opens of an issue's web links through /r/{issue}/{number}. Off by default: the emails then carry
    /// the links exactly as written.
    /// </summary>
    public bool LinkClicks { get; set; }
}
