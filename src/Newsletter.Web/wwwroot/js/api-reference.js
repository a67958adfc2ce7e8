// Starts Scalar's API reference (the bundle from Scalar.AspNetCore, served by this app) on the OpenAPI document.
// No fonts, telemetry or proxy from elsewhere: the CSP allows only this origin, and an install may be offline.
(function () {
  const target = document.getElementById('api-reference');
  if (!target || !window.Scalar) return;
  window.Scalar.createApiReference(target, {
    url: target.dataset.document,
    withDefaultFonts: false,
    telemetry: false,
    hideClientButton: true,
    // The system's fonts: Scalar's own come from its CDN, which the CSP (rightly) refuses.
    customCss: ':root { --scalar-font: system-ui, sans-serif; --scalar-font-code: ui-monospace, monospace; }',
    authentication: { preferredSecurityScheme: 'bearer' },
  });
})();
