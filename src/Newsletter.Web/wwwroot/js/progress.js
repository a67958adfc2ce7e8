// Live progress for imports and sends: polls a JSON endpoint and fills elements marked data-field,
// anywhere on the page (the status badge sits in the header, outside the polled card).
(function () {
  const box = document.querySelector('[data-poll]');
  if (!box) return;
  const url = box.dataset.poll;
  const fmt = new Intl.NumberFormat();
  const statusField = document.querySelector('[data-field="status"]');
  const initialStatus = statusField ? statusField.textContent.trim() : null;
  async function tick() {
    if (box.dataset.done === 'true') return;
    // The server says how long to wait: longer for a ledger whose counts take it long to read.
    let after = 1000;
    try {
      const res = await fetch(url, { credentials: 'same-origin', headers: { 'Accept': 'application/json' } });
      if (res.ok) {
        const data = await res.json();
        if (Number.isInteger(data.pollAfterMs)) after = Math.min(Math.max(data.pollAfterMs, 1000), 15000);
        for (const [key, value] of Object.entries(data)) {
          const el = document.querySelector('[data-field="' + key + '"]');
          if (!el) continue;
          if (el.tagName === 'PROGRESS') { el.value = value; el.textContent = value + '%'; }
          else if (key === 'error' || key === 'relay') { el.hidden = !value; el.textContent = value || ''; }
          // null is a figure the server has no honest value for (the time left while nothing moves): a dash.
          else el.textContent = value === null ? '—' : typeof value === 'number' ? fmt.format(value) : value;
        }
        // A new state (sending, paused, sent) brings other controls: show them.
        if (initialStatus !== null && data.status && data.status !== initialStatus) { location.reload(); return; }
        if (data.done) { box.dataset.done = 'true'; return; }
      }
    } catch (e) { /* the next tick retries */ }
    setTimeout(tick, after);
  }
  setTimeout(tick, 500);
})();
