// Live Markdown preview: the server renders with the same pipeline and sanitiser as the public site,
// so what the author sees is exactly what readers get.
(function () {
  const input = document.querySelector('textarea[data-preview]');
  if (!input) return;
  const target = document.querySelector(input.dataset.preview);
  let timer = null;
  let seq = 0;
  async function render() {
    const mine = ++seq;
    try {
      const res = await fetch('/admin/api/preview', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        credentials: 'same-origin',
        body: JSON.stringify({ markdown: input.value })
      });
      if (!res.ok) throw new Error('preview failed: ' + res.status);
      const data = await res.json();
      if (mine === seq) target.innerHTML = data.html; // html was sanitised on the server
    } catch (e) {
      if (mine === seq) target.setAttribute('data-error', String(e));
    }
  }
  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(render, 250);
  });
})();
