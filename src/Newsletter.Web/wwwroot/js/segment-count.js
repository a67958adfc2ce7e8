// The audience builder's live count: on every change to the segment (or the tags, which readers who
// want only some topics are matched against), asks the server how many readers the form's segment reaches now.
// Without this script the count is shown after Save.
(function () {
  const box = document.getElementById('segment');
  const form = document.getElementById('issue-form');
  const value = document.getElementById('segment-count-value');
  const note = document.getElementById('segment-count-note');
  if (!box || !form || !value || !note) return;
  const fields = ['segmentTopics', 'segmentMatch', 'joinedFrom', 'joinedBefore', 'gotIssue', 'missedIssue', 'tags'];
  let asked = 0;
  let timer = null;

  async function count() {
    const query = new URLSearchParams();
    for (const [name, v] of new FormData(form)) {
      if (fields.includes(name) && typeof v === 'string') query.append(name, v);
    }
    const mine = ++asked;
    try {
      const res = await fetch(box.dataset.countUrl + '&' + query.toString(), { credentials: 'same-origin', headers: { 'Accept': 'application/json' } });
      if (mine !== asked) return; // a newer change is being counted
      const data = await res.json();
      if (res.ok) {
        value.textContent = data.text;
        note.textContent = ' (counted now for this form; the list is fixed when the send starts)';
      } else {
        value.textContent = 'not counted';
        note.textContent = ' ' + Object.values(data.errors || {}).flat().join(' ');
      }
    } catch (e) {
      if (mine === asked) note.textContent = ' (could not count just now: Save shows the count)';
    }
  }

  function changed(e) {
    if (!e.target.name || !fields.includes(e.target.name)) return;
    clearTimeout(timer);
    timer = setTimeout(count, e.type === 'input' ? 400 : 0);
  }
  form.addEventListener('change', changed);
  form.addEventListener('input', changed);
})();
