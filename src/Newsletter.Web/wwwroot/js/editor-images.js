// Images in the editors: the upload form posts in place and its Markdown goes in at the cursor; a file dropped on
// the text area is put in the form, which then asks for its alt text before anything is uploaded.
(function () {
  // The controls sit under the text, inside the editor's form; they belong to the small form#image-upload.
  const panel = document.querySelector('.image-upload[data-insert-into]');
  const form = document.getElementById('image-upload');
  if (!panel || !form) return;
  const target = panel.dataset.insertInto ? document.querySelector(panel.dataset.insertInto) : null;
  const file = panel.querySelector('input[type=file]');
  const alt = panel.querySelector('input[name=alt]');
  const status = panel.querySelector('.image-upload-status');
  let cursor = null;

  function say(text, isError) {
    status.textContent = text;
    status.classList.toggle('is-error', !!isError);
  }

  if (target) {
    const remember = () => { cursor = target.selectionStart; };
    target.addEventListener('blur', remember);
    target.addEventListener('keyup', remember);
    target.addEventListener('click', remember);
    target.addEventListener('dragover', (e) => {
      if (e.dataTransfer && Array.from(e.dataTransfer.types).includes('Files')) {
        e.preventDefault();
        target.classList.add('is-drop-target');
      }
    });
    target.addEventListener('dragleave', () => target.classList.remove('is-drop-target'));
    target.addEventListener('drop', (e) => {
      if (!e.dataTransfer || e.dataTransfer.files.length === 0) return;
      e.preventDefault();
      target.classList.remove('is-drop-target');
      cursor = target.selectionStart;
      file.files = e.dataTransfer.files;
      panel.scrollIntoView({ block: 'nearest' });
      alt.focus();
      say('Describe “' + e.dataTransfer.files[0].name + '” in the alt text, then press Upload image.');
    });
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!file.files.length) { say('Choose an image file first.', true); file.focus(); return; }
    if (!alt.value.trim()) { say('Describe the image first (alt text): readers with images off get only that.', true); alt.focus(); return; }
    const button = panel.querySelector('button[type=submit]');
    button.disabled = true;
    say('Uploading…');
    try {
      const res = await fetch(form.action, { method: 'POST', body: new FormData(form), headers: { Accept: 'application/json' }, credentials: 'same-origin' });
      let data = null;
      try { data = await res.json(); } catch { data = null; }
      if (!res.ok) {
        say((data && data.error) || (res.status === 413 ? 'The file is too large.' : res.status === 403 ? 'Your role can\u2019t upload images.' : 'The upload failed (' + res.status + ').'), true);
        return;
      }
      if (target) {
        const at = cursor === null ? target.value.length : cursor;
        const before = target.value.slice(0, at);
        const after = target.value.slice(at);
        const block = (before && !before.endsWith('\n\n') ? (before.endsWith('\n') ? '\n' : '\n\n') : '') + data.markdown + '\n\n';
        target.value = before + block + after;
        cursor = at + block.length;
        target.dispatchEvent(new Event('input', { bubbles: true }));
        say('Inserted ' + data.markdown + ' (' + data.width + ' × ' + data.height + ' px).');
      } else {
        say('Uploaded. Markdown: ' + data.markdown);
      }
      file.value = '';
      alt.value = '';
    } catch (err) {
      say('The upload failed: ' + err, true);
    } finally {
      button.disabled = false;
    }
  });
})();
