// The dashboard page: workers, queue depth per task and recent runs, refreshed every second; pause and resume.
// The API token comes from the URL fragment (never sent to the server) or a prompt, and stays in sessionStorage.

export const dashboardPage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pushworker dashboard</title>
<style>
  :root { --bg:#0f1117; --panel:#171a23; --line:#262a36; --text:#e6e8ee; --dim:#8b91a3; --ok:#3ccf8e; --warn:#f2c14e; --bad:#ef5b5b; --info:#5aa2ff; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.45 system-ui, sans-serif; background:var(--bg); color:var(--text); }
  header { display:flex; align-items:baseline; gap:16px; padding:14px 22px; border-bottom:1px solid var(--line); }
  header h1 { font-size:18px; margin:0; }
  header .dim { color:var(--dim); }
  main { padding:18px 22px; display:grid; gap:18px; }
  section { background:var(--panel); border:1px solid var(--line); border-radius:8px; padding:12px 14px; }
  h2 { font-size:14px; margin:0 0 8px; color:var(--dim); text-transform:uppercase; letter-spacing:.05em; }
  table { width:100%; border-collapse:collapse; }
  th, td { text-align:left; padding:6px 8px; border-bottom:1px solid var(--line); white-space:nowrap; }
  th { color:var(--dim); font-weight:500; }
  td.num { font-variant-numeric: tabular-nums; }
  .state { padding:1px 8px; border-radius:10px; font-size:12px; font-weight:600; }
  .ACTIVE, .COMPLETED { background:#123524; color:var(--ok); }
  .PAUSED, .QUEUED, .ASSIGNED { background:#3a3115; color:var(--warn); }
  .INACTIVE, .FAILED, .CANCELLED { background:#3a1818; color:var(--bad); }
  .STOPPED { background:#22252f; color:var(--dim); }
  .RUNNING { background:#132a47; color:var(--info); }
  .bar { display:inline-block; width:90px; height:8px; background:var(--line); border-radius:4px; vertical-align:middle; margin-right:6px; }
  .bar > i { display:block; height:100%; background:var(--info); border-radius:4px; }
  button { background:#222735; color:var(--text); border:1px solid var(--line); border-radius:6px; padding:3px 10px; cursor:pointer; }
  button:hover { border-color:var(--info); }
  #error { color:var(--bad); }
  .empty { color:var(--dim); padding:6px 8px; }
</style>
</head>
<body>
<header><h1>pushworker</h1><span class="dim" id="updated">connecting…</span><span id="error"></span></header>
<main>
  <section><h2>Workers</h2><table id="workers"><thead><tr>
    <th>Name</th><th>State</th><th>Slots</th><th>Labels</th><th>Tasks</th><th>Last heartbeat</th><th></th>
  </tr></thead><tbody></tbody></table></section>
  <section><h2>Tasks</h2><table id="tasks"><thead><tr>
    <th>Task</th><th>Queued</th><th>Ready</th><th>Running</th><th>Workers</th><th>Slots</th>
  </tr></thead><tbody></tbody></table></section>
  <section><h2>Recent runs</h2><table id="runs"><thead><tr>
    <th>Run</th><th>Task</th><th>State</th><th>Attempt</th><th>Duration</th><th>Enqueued</th>
  </tr></thead><tbody></tbody></table></section>
</main>
<script>
(() => {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get('token');
  if (fromHash) { sessionStorage.setItem('pushworker-token', fromHash); history.replaceState(null, '', location.pathname); }
  let token = sessionStorage.getItem('pushworker-token');
  if (!token) { token = prompt('API token') || ''; sessionStorage.setItem('pushworker-token', token); }
  const base = location.pathname.replace(/\\/dashboard\\/?$/, '');
  const api = async (path, init = {}) => {
    const res = await fetch(base + path, { ...init, headers: { authorization: 'Bearer ' + token, ...(init.body ? { 'content-type': 'application/json' } : {}) } });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error((body.error && body.error.code) || ('HTTP ' + res.status));
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
  const bar = (used, total) => el('span', {}, el('span', { class: 'bar' }, el('i', { style: 'width:' + (total ? Math.min(100, 100 * used / total) : 0) + '%' })), used + '/' + total);
  const fill = (id, rows, empty) => {
    const body = document.querySelector('#' + id + ' tbody');
    body.replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { class: 'empty', colspan: '7' }, empty))]));
  };
  const act = (w, action) => async () => { try { await api('/v1/workers/' + encodeURIComponent(w.id) + '/' + action, { method: 'POST', body: '{}' }); await refresh(); } catch (e) { showError(e); } };
  const showError = (e) => { document.getElementById('error').textContent = ' ' + e.message; };
  async function refresh() {
    const [workers, stats, runs] = await Promise.all([api('/v1/workers'), api('/v1/stats/tasks'), api('/v1/runs?limit=50')]);
    fill('workers', workers.workers.map((w) => el('tr', { 'data-worker': w.name },
      el('td', {}, w.name), el('td', {}, state(w.state)), el('td', { class: 'num' }, bar(w.slots.used, w.slots.total)),
      el('td', {}, Object.entries(w.labels).map(([k, v]) => k + '=' + v).join(', ') || '–'),
      el('td', {}, w.tasks.map((t) => t.name).join(', ')), el('td', {}, ago(w.lastHeartbeatAt)),
      el('td', {}, w.state === 'PAUSED' ? el('button', { onclick: act(w, 'resume') }, 'Resume') : el('button', { onclick: act(w, 'pause') }, 'Pause')))), 'no workers yet');
    fill('tasks', stats.tasks.map((s) => el('tr', { 'data-task': s.task },
      el('td', {}, s.task), el('td', { class: 'num', 'data-queued': s.queued }, s.queued), el('td', { class: 'num' }, s.ready),
      el('td', { class: 'num', 'data-running': s.assigned + s.running }, s.assigned + s.running), el('td', { class: 'num' }, s.workers),
      el('td', { class: 'num' }, s.slots.used + '/' + s.slots.total))), 'no tasks yet');
    fill('runs', runs.runs.map((r) => el('tr', { 'data-run': r.id },
      el('td', {}, r.id), el('td', {}, r.task), el('td', {}, state(r.state)), el('td', { class: 'num' }, r.attempt),
      el('td', { class: 'num' }, duration(r)), el('td', {}, ago(r.createdAt)))), 'no runs yet');
    document.getElementById('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
    document.getElementById('error').textContent = '';
  }
  const loop = async () => { try { await refresh(); } catch (e) { showError(e); } setTimeout(loop, 1000); };
  loop();
})();
</script>
</body>
</html>
`;
