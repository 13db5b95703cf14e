// The dashboard's script: workers (why their pushes fail), queue depth per task, schedules with their next ticks
// and recent runs, refreshed every second; pause and resume live workers, remove gone ones, when the token's scope
// allows it (admin: /v1/whoami). The API token comes from the URL fragment (never sent to the server) or the
// page's form, and stays in sessionStorage; a refused token stops the refreshes and brings the form back.

export const dashboardScript = `(() => {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get('token');
  if (fromHash) { sessionStorage.setItem('pushworker-token', fromHash); history.replaceState(null, '', location.pathname); }
  let token = sessionStorage.getItem('pushworker-token');
  const base = location.pathname.replace(/\\/dashboard\\/?$/, '');
  class ApiError extends Error { constructor(code) { super(code); this.code = code; } }
  const api = async (path, init = {}) => {
    const res = await fetch(base + path, { ...init, headers: { authorization: 'Bearer ' + token, ...(init.body ? { 'content-type': 'application/json' } : {}) } });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new ApiError((body.error && body.error.code) || ('HTTP ' + res.status));
    return body;
  };
  const el = (tag, attrs = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) k === 'onclick' ? (node.onclick = v) : node.setAttribute(k, v);
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  };
  const state = (s) => el('span', { class: 'state ' + s, 'data-state': s }, s);
  const ago = (iso) => { if (!iso) return '–'; const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000)); return s < 60 ? s + 's ago' : Math.round(s / 60) + 'm ago'; };
  const duration = (r) => r.startedAt && r.finishedAt ? (Date.parse(r.finishedAt) - Date.parse(r.startedAt)) + ' ms' : r.startedAt ? 'running' : '–';
  const bar = (used, total) => el('span', {}, el('progress', { max: String(total || 1), value: String(Math.min(used, total)) }), used + '/' + total);
  // Each cell carries its column's name, which a narrow screen shows beside the value instead of the header row.
  const fill = (id, rows, empty) => {
    const labels = [...document.querySelectorAll('#' + id + ' thead th')].map((th) => th.textContent);
    for (const row of rows) [...row.children].forEach((td, i) => td.setAttribute('data-label', labels[i] || ''));
    const body = document.querySelector('#' + id + ' tbody');
    body.replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { class: 'empty', colspan: '7' }, empty))]));
  };
  const act = (w, action) => async () => { try { await api('/v1/workers/' + encodeURIComponent(w.id) + '/' + action, { method: 'POST', body: '{}' }); await refresh(); } catch (e) { showError(e); } };
  const remove = (w) => async () => { try { await api('/v1/workers/' + encodeURIComponent(w.id), { method: 'DELETE' }); await refresh(); } catch (e) { showError(e); } };
  let canOperate = false;
  const actions = (w) => !canOperate ? '' : w.state === 'PAUSED' ? el('button', { onclick: act(w, 'resume') }, 'Resume')
    : w.state === 'ACTIVE' ? el('button', { onclick: act(w, 'pause') }, 'Pause')
    : el('button', { onclick: remove(w), 'data-remove': w.name }, 'Remove');
  const problem = (w) => w.pushFailing ? el('div', { class: 'problem', 'data-problem': w.name }, 'push failing: ' + w.pushFailing.reason) : '';
  let timer;
  let polling = false;
  const setPolling = (on) => { polling = on; document.body.dataset.polling = on ? 'on' : 'stopped'; if (!on) clearTimeout(timer); };
  const login = (said) => {
    setPolling(false);
    sessionStorage.removeItem('pushworker-token');
    document.getElementById('board').hidden = true;
    document.getElementById('login').hidden = false;
    document.getElementById('updated').textContent = said;
    document.getElementById('token-input').focus();
  };
  const showError = (e) => {
    if (e.code === 'unauthorized') return login('the token was refused (unauthorized): give another');
    document.getElementById('error').textContent = ' ' + e.message;
  };
  async function refresh() {
    const [workers, stats, runs, schedules] = await Promise.all([api('/v1/workers'), api('/v1/stats/tasks'), api('/v1/runs?limit=50'), api('/v1/schedules')]);
    fill('workers', workers.workers.map((w) => el('tr', { 'data-worker': w.name },
      el('td', {}, w.name), el('td', {}, state(w.state), problem(w)), el('td', { class: 'num' }, bar(w.slots.used, w.slots.total)),
      el('td', {}, Object.entries(w.labels).map(([k, v]) => k + '=' + v).join(', ') || '–'),
      el('td', {}, w.tasks.map((t) => t.name).join(', ')), el('td', {}, ago(w.lastHeartbeatAt)),
      el('td', {}, actions(w)))), 'no workers yet');
    fill('tasks', stats.tasks.map((s) => el('tr', { 'data-task': s.task },
      el('td', {}, s.task), el('td', { class: 'num', 'data-queued': s.queued }, s.queued), el('td', { class: 'num' }, s.ready),
      el('td', { class: 'num', 'data-running': s.assigned + s.running }, s.assigned + s.running), el('td', { class: 'num' }, s.workers),
      el('td', { class: 'num' }, s.slots.used + '/' + s.slots.total))), 'no tasks yet');
    fill('schedules', schedules.schedules.map((s) => el('tr', { 'data-schedule': s.name },
      el('td', {}, s.name), el('td', {}, s.task), el('td', { 'data-cron': s.cron }, s.cron), el('td', {}, s.timezone),
      el('td', {}, s.paused ? 'paused' : 'active', s.source === 'code' ? ' (code)' : ''),
      el('td', { 'data-next': s.nextTickAt || '' }, s.nextTickAt ? new Date(s.nextTickAt).toLocaleString() : '–'),
      el('td', {}, s.lastTickAt ? new Date(s.lastTickAt).toLocaleString() : '–'))), 'no schedules');
    fill('runs', runs.runs.map((r) => el('tr', { 'data-run': r.id },
      el('td', {}, r.id), el('td', {}, r.task), el('td', {}, state(r.state), r.waitingFor ? el('div', { class: 'why', 'data-why': r.id }, 'waiting for ' + r.waitingFor) : ''), el('td', { class: 'num' }, r.attempt),
      el('td', { class: 'num' }, duration(r)), el('td', {}, ago(r.createdAt)))), 'no runs yet');
    document.getElementById('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
    document.getElementById('error').textContent = '';
  }
  // Each opening starts its own loop; one left from before a refused token ends instead of running beside it.
  let opened = 0;
  const loop = async (mine) => { try { await refresh(); } catch (e) { showError(e); } if (polling && mine === opened) timer = setTimeout(() => loop(mine), 1000); };
  const open = () => {
    document.getElementById('login').hidden = true;
    document.getElementById('board').hidden = false;
    document.getElementById('error').textContent = '';
    setPolling(true);
    const mine = ++opened;
    api('/v1/whoami').then((me) => { canOperate = me.scope === 'admin'; document.getElementById('scope').textContent = me.scope + ' token'; })
      .catch(showError).finally(() => { if (polling && mine === opened) loop(mine); });
  };
  document.getElementById('login').addEventListener('submit', (event) => {
    event.preventDefault();
    token = document.getElementById('token-input').value.trim();
    document.getElementById('token-input').value = '';
    if (!token) return;
    sessionStorage.setItem('pushworker-token', token);
    open();
  });
  if (token) open(); else login('give an API token to open the dashboard');
})();
`;
