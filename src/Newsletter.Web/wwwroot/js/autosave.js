// Nothing the author types is lost: every change is copied into this browser's storage at once, a draft is
// saved to the server a moment after typing stops, and leaving the page with unsaved changes asks first.
// The browser copy is what brings text back after a sign-out, a crash or a closed tab: the page that loads
// after signing in again finds it and puts it back (and saves it), because a form posted while signed out is
// lost on the way to the login page.
(function () {
  const form = document.querySelector('form[data-autosave]');
  if (!form) return;

  const status = document.getElementById('autosave-status');
  const serverSaves = form.dataset.autosave === 'server';
  const version = form.querySelector('input[name="version"]');
  const delay = 1500;
  let key = 'newsletter:draft:' + form.dataset.autosaveKey;

  const fields = () => Array.from(form.elements).filter(e =>
    e.name && e.type !== 'hidden' && e.type !== 'submit' && e.type !== 'button' && e.type !== 'file');

  function snapshot(read) {
    const values = {};
    for (const e of fields()) {
      if (e.type === 'checkbox' || e.type === 'radio') values[e.name + '=' + e.value] = read ? read(e) : e.checked;
      else values[e.name] = read ? read(e) : e.value;
    }
    return values;
  }

  // What the server rendered, whatever has been typed since. This script runs after the form is on the
  // screen, so on a slow page an author can type before it runs; counting from the rendered values makes
  // that text a change like any other, where counting from the values at start would take it as saved.
  // The rendered text goes through a fresh field of the same kind, because the browser normalises what a
  // field holds (a textarea's value has LF line ends where the page's text, a form post's Markdown, has CRLF):
  // compared raw, every page load would look edited and save, and another tab's draft would then be refused as
  // saved elsewhere.
  function rendered(e) {
    if (e.type === 'checkbox' || e.type === 'radio') return e.defaultChecked;
    if (e.tagName === 'SELECT') {
      const chosen = Array.from(e.options).find(o => o.defaultSelected) || e.options[0];
      return chosen ? chosen.value : '';
    }
    const probe = document.createElement(e.tagName);
    if (e.tagName === 'INPUT') probe.type = e.type;
    probe.value = e.defaultValue;
    return probe.value;
  }

  function apply(values) {
    for (const e of fields()) {
      if (e.type === 'checkbox' || e.type === 'radio') {
        const k = e.name + '=' + e.value;
        if (k in values) e.checked = values[k];
      } else if (e.name in values) {
        e.value = values[e.name];
      }
    }
    // The live preview listens for input; let it render what came back.
    form.querySelectorAll('textarea[data-preview]').forEach(t => t.dispatchEvent(new Event('input', { bubbles: true })));
  }

  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
  const clock = d => new Date(d).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });

  function say(text, kind, actions) {
    if (!status) return;
    status.textContent = text;
    status.className = 'autosave-status' + (kind ? ' autosave-' + kind : '');
    for (const [label, act] of actions || []) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'btn btn-small';
      b.textContent = label;
      b.addEventListener('click', act);
      status.append(' ', b);
    }
  }

  let saved = snapshot(rendered);  // what the server holds as far as this page knows
  let dirty = false;
  let leaving = false;
  let saving = false;
  let timer = null;
  let inflight = null;             // the autosave on its way, which a Save or Publish click waits for

  function keep(submitted) {
    try {
      localStorage.setItem(key, JSON.stringify({ fields: snapshot(), version: version ? version.value : '', at: Date.now(), submitted: !!submitted }));
    } catch (e) {
      // Storage full or disabled: the server save and the leave warning still protect the text.
    }
  }

  function forget() {
    try { localStorage.removeItem(key); } catch (e) { /* nothing kept */ }
  }

  let last = JSON.stringify(saved);
  let signedOutNow = false;

  function changed() {
    // 'change' follows 'input' when a field loses focus: nothing new then, and redrawing the status would
    // swap out a button (Sign in again) under the pointer that is clicking it.
    const now = JSON.stringify(snapshot());
    if (now === last) return;
    last = now;
    dirty = !same(snapshot(), saved);
    if (!dirty) { forget(); return; }
    keep();
    if (signedOutNow) return;
    if (serverSaves) {
      say('Unsaved changes…', 'pending');
      clearTimeout(timer);
      timer = setTimeout(save, delay);
    } else {
      say(form.dataset.autosaveHint || 'Changes are kept in this browser until you save.', 'pending');
    }
  }

  async function save() {
    if (!serverSaves || leaving) return;
    if (saving) { clearTimeout(timer); timer = setTimeout(save, delay); return; }
    const sent = snapshot();
    if (same(sent, saved)) { dirty = false; forget(); return; }
    saving = true;
    say('Saving…', 'pending');
    inflight = send(sent);
    try {
      await inflight;
    } finally {
      saving = false;
      inflight = null;
    }
  }

  // The issue editor's Send now acts only on the version whose question and preflight warnings the page
  // shows: after an autosave the server sends both for the saved text, and the page shows them.
  function shown(data) {
    const seen = form.querySelector('input[name="seen"]');
    if (seen) seen.value = data.seen;
    const question = document.querySelector('[data-send-question]');
    if (question && data.question) question.textContent = data.question;
    const preflight = document.querySelector('[data-preflight]');
    if (!preflight || !Array.isArray(data.warnings)) return;
    preflight.replaceChildren();
    if (data.warnings.length === 0) return;
    const box = document.createElement('div');
    box.className = 'alert alert-warn';
    box.setAttribute('role', 'note');
    const head = document.createElement('p');
    const strong = document.createElement('strong');
    strong.textContent = 'Preflight found ' + data.warnings.length + (data.warnings.length === 1 ? ' thing' : ' things') + ' to check:';
    head.appendChild(strong);
    const list = document.createElement('ul');
    for (const w of data.warnings) {
      const li = document.createElement('li');
      li.textContent = w;
      list.appendChild(li);
    }
    box.append(head, list);
    preflight.appendChild(box);
  }

  async function send(sent) {
    try {
      const res = await fetch(form.dataset.autosaveUrl, {
        method: 'POST',
        body: new FormData(form),
        credentials: 'same-origin',
        redirect: 'manual',
        headers: { 'Accept': 'application/json' }
      });
      if (res.type === 'opaqueredirect' || res.status === 401 || res.status === 0) {
        signedOut();
        return;
      }
      const data = await res.json().catch(() => ({}));
      if (res.ok) {
        if (version && data.version) version.value = data.version;
        if (data.seen !== undefined) shown(data);
        if (data.url && data.url !== location.pathname) {
          // A new note got its id with the first save: from now on this page is that note's page.
          history.replaceState(null, '', data.url);
          form.action = data.url;
          form.dataset.autosaveUrl = data.url + '?handler=Autosave';
          forget();
          key = 'newsletter:draft:' + data.key;
        }
        saved = sent;
        dirty = !same(snapshot(), saved);
        if (dirty) { keep(); timer = setTimeout(save, delay); } else forget();
        say('Saved at ' + clock(Date.now()) + '.', 'ok');
      } else if (res.status === 400 && data.errors) {
        say('Kept in this browser, not saved yet: ' + Object.values(data.errors).flat().join(' '), 'warn');
      } else if (res.status === 409) {
        say((data.error || 'This draft changed elsewhere.') + ' What you typed is kept in this browser.', 'warn');
      } else {
        say('Not saved (the server answered ' + res.status + '). What you typed is kept in this browser; try Save.', 'warn');
      }
    } catch (e) {
      say('Not saved: the server could not be reached. What you typed is kept in this browser.', 'warn');
    }
  }

  function signedOut() {
    signedOutNow = true;
    say('You were signed out. What you typed is kept in this browser and comes back after you sign in.', 'warn', [[
      'Sign in again', () => {
        leaving = true;
        location.href = '/admin/login?ReturnUrl=' + encodeURIComponent(location.pathname);
      }]]);
  }

  // What this browser kept from an earlier visit.
  const read = k => { try { return JSON.parse(localStorage.getItem(k) || 'null'); } catch (e) { return null; } };
  const stored = read(key);
  let offered = false;
  if (stored && stored.fields) {
    if (same(stored.fields, saved)) {
      forget();
    } else if (version && stored.version !== version.value) {
      if (stored.submitted && !form.dataset.autosaveRefused) {
        // The copy was taken as the form was posted, and the draft was saved after it: that post went through.
        // Unless this page is the server saying that very post was refused (saved elsewhere first): then the
        // copy is the only place the author's text is, and it is offered like any other.
        forget();
      } else {
        // Saved elsewhere since (another tab or author): offer the copy, never overwrite the newer save unasked.
        offered = true;
        say('This browser holds text you typed at ' + clock(stored.at) + ', but the draft was saved elsewhere since.', 'warn', [
          ['Use my text', () => { apply(stored.fields); changed(); }],
          ['Discard it', () => { forget(); say('', ''); }]]);
      }
    } else {
      // Nothing was saved since the copy was taken: it is simply newer. Put it back and save it.
      apply(stored.fields);
      offered = true;
      say('Brought back what you typed at ' + clock(stored.at) + ', which had not been saved.', 'warn', [[
        'Discard it', () => { forget(); location.reload(); }]]);
      dirty = true;
      if (serverSaves) timer = setTimeout(save, delay);
    }
  }

  // A new note posted before its first autosave was kept under the "new" key; once this page shows the same
  // text, that post was saved, and the copy must not come back the next time the author starts a note.
  if (form.dataset.autosaveOrigin) {
    const origin = read('newsletter:draft:' + form.dataset.autosaveOrigin);
    const identity = (form.dataset.autosaveIdentity || '').split(' ').filter(Boolean);
    if (origin && origin.submitted && identity.length && identity.every(n => origin.fields[n] === saved[n])) {
      try { localStorage.removeItem('newsletter:draft:' + form.dataset.autosaveOrigin); } catch (e) { /* nothing kept */ }
    }
  }

  form.addEventListener('input', changed);
  form.addEventListener('change', changed);
  // Typed before this script ran: kept and saved like the typing that follows.
  if (!offered) changed();
  form.addEventListener('submit', e => {
    if (inflight) {
      // A click on Publish while the first autosave of a new note is on its way would post a second note with
      // the same slug: wait for the save, then post (to the note it created) with the same button.
      e.preventDefault();
      const by = e.submitter;
      inflight.finally(() => { inflight = null; form.requestSubmit(by || undefined); });
      return;
    }
    leaving = true;
    clearTimeout(timer);
    if (dirty) keep(true);
  });
  window.addEventListener('beforeunload', e => {
    if (dirty && !leaving) {
      e.preventDefault();
      e.returnValue = '';
    }
  });
})();
