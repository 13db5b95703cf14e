// The script's session: the token form, the hash routes and the refresh loop. Every second the page the hash
// names is read again; a refused token stops the loop and brings the form back.

export const session = `
  let scope = 'read';
  const routes = [runPage, workerPage, workflowRunPage, overviewPage];
  const decoded = (part) => { try { return decodeURIComponent(part); } catch { return part; } };
  const routeOf = (hash) => {
    const path = hash.replace(/^#/, '') || '/';
    for (const page of routes) { const m = page.pattern.exec(path); if (m) return { page, params: m.slice(1).map(decoded) }; }
    return { page: overviewPage, params: [] };
  };
  const showPage = (page) => { for (const p of routes) $(p.main).hidden = p !== page; };
  let timer;
  let polling = false;
  const setPolling = (on) => { polling = on; document.body.dataset.polling = on ? 'on' : 'stopped'; if (!on) clearTimeout(timer); };
  const login = (said) => {
    setPolling(false);
    sessionStorage.removeItem('pushworker-token');
    showPage(null);
    $('nav').hidden = true;
    $('login').hidden = false;
    $('updated').textContent = said;
    $('token-input').focus();
  };
  const showError = (e) => {
    if (e.code === 'unauthorized') return login('the token was refused (unauthorized): give another');
    $('error').textContent = ' ' + e.message;
  };
  let shownHash;
  async function refresh(isCurrent) {
    const { page, params } = routeOf(location.hash);
    // Another run's or worker's page shows nothing of the one before while its own is read.
    if (location.hash !== shownHash && page !== overviewPage) {
      $(page.main).replaceChildren(el('p', { class: 'dim' }, 'loading…'));
      delete $(page.main).dataset.drawn;
    }
    shownHash = location.hash;
    showPage(page);
    await page.refresh(params, isCurrent);
    if (!isCurrent()) return;
    $('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
    $('error').textContent = '';
  }
  // Each start of the loop makes the one before it end rather than run beside it (a new token, a new page).
  let opened = 0;
  const loop = async (mine) => {
    const isCurrent = () => polling && mine === opened;
    try { await refresh(isCurrent); } catch (e) { if (isCurrent()) showError(e); }
    if (isCurrent()) timer = setTimeout(() => loop(mine), 1000);
  };
  // Declared, not assigned, so that the pages' parts before this one may bind them to their controls.
  function kick() { if (!polling) return; clearTimeout(timer); loop(++opened); }
  // An action's outcome: the page is read again at once; a refusal stays said until the next action or page.
  function perform(action) {
    return async () => {
      $('said').textContent = '';
      try { await action(); kick(); } catch (e) { if (e.code === 'unauthorized') showError(e); else $('said').textContent = 'refused: ' + e.message; }
    };
  }
  const open = () => {
    $('login').hidden = true;
    $('nav').hidden = false;
    $('error').textContent = '';
    setPolling(true);
    const mine = ++opened;
    api('/v1/whoami').then((me) => { scope = me.scope; $('scope').textContent = me.scope + ' token'; })
      .catch(showError).finally(() => { if (polling && mine === opened) loop(mine); });
  };
  window.addEventListener('hashchange', () => { $('said').textContent = ''; kick(); });
  $('login').addEventListener('submit', (event) => {
    event.preventDefault();
    token = $('token-input').value.trim();
    $('token-input').value = '';
    if (!token) return;
    sessionStorage.setItem('pushworker-token', token);
    open();
  });
  if (token) open(); else login('give an API token to open the dashboard');
`;
