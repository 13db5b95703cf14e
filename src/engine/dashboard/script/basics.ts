// The script's shared pieces: the API call with the tab's token, building elements, and formatting values.

export const basics = String.raw`
  const fromHash = new URLSearchParams(location.hash.slice(1)).get('token');
  if (fromHash) { sessionStorage.setItem('pushworker-token', fromHash); history.replaceState(null, '', location.pathname); }
  let token = sessionStorage.getItem('pushworker-token');
  const base = location.pathname.replace(/\/dashboard\/?$/, '');
  class ApiError extends Error { constructor(code, message) { super(message || code); this.code = code; } }
  const api = async (path, init = {}) => {
    const res = await fetch(base + path, { ...init, headers: { authorization: 'Bearer ' + token, ...(init.body ? { 'content-type': 'application/json' } : {}) } });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new ApiError((body.error && body.error.code) || ('HTTP ' + res.status), body.error && body.error.message);
    return body;
  };
  const post = (path, body = {}) => api(path, { method: 'POST', body: JSON.stringify(body) });
  const $ = (id) => document.getElementById(id);
  const el = (tag, attrs = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k.startsWith('on')) node[k] = v; else if (v !== undefined && v !== null && v !== false) node.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children.flat(Infinity)) if (c !== '' && c !== null && c !== undefined) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  };
  const link = (href, text, attrs = {}) => el('a', { href, ...attrs }, text);
  const runLink = (id) => link('#/runs/' + encodeURIComponent(id), id, { 'data-run-link': id });
  const workerLink = (id, name) => link('#/workers/' + encodeURIComponent(id), name || id, { 'data-worker-link': id });
  const state = (s) => el('span', { class: 'state ' + s, 'data-state': s }, s);
  const ago = (iso) => { if (!iso) return '–'; const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000)); return s < 60 ? s + 's ago' : s < 3600 ? Math.round(s / 60) + 'm ago' : Math.round(s / 3600) + 'h ago'; };
  const when = (iso) => iso ? el('time', { datetime: iso, title: iso }, new Date(iso).toLocaleString()) : '–';
  const span = (from, to) => from && to ? (Date.parse(to) - Date.parse(from)) + ' ms' : '–';
  const duration = (r) => r.startedAt && r.finishedAt ? span(r.startedAt, r.finishedAt) : r.startedAt ? 'running' : '–';
  const bar = (used, total) => el('span', {}, el('progress', { max: String(total || 1), value: String(Math.min(used, total)) }), used + '/' + total);
  const json = (value, name) => el('pre', { class: 'json', 'data-json': name }, value === undefined ? '–' : JSON.stringify(value, null, 2));
  const labelsOf = (labels) => Object.entries(labels).map(([k, v]) => k + '=' + v).join(', ') || '–';
  // A list of label and value, the shape of every page's summary.
  const facts = (pairs) => el('dl', { class: 'facts' }, pairs.filter(Boolean).map(([k, v, name]) => [el('dt', {}, k), el('dd', name ? { 'data-fact': name } : {}, v)]));
  // Each cell carries its column's name, which a narrow screen shows beside the value instead of the header row.
  const bodyRows = (columns, rows, empty) => {
    for (const row of rows) [...row.children].forEach((td, i) => td.setAttribute('data-label', columns[i] || ''));
    return rows.length ? rows : [el('tr', {}, el('td', { class: 'empty', colspan: String(columns.length) }, empty))];
  };
  const table = (columns, rows, empty, attrs = {}) => el('div', { class: 'scroll' }, el('table', attrs,
    el('thead', {}, el('tr', {}, columns.map((c) => el('th', {}, c)))), el('tbody', {}, bodyRows(columns, rows, empty))));
  const fill = (id, rows, empty) => {
    const columns = [...document.querySelectorAll('#' + id + ' thead th')].map((th) => th.textContent);
    document.querySelector('#' + id + ' tbody').replaceChildren(...bodyRows(columns, rows, empty));
  };
  // Draws a page again only when what it shows changed, so that a button is not replaced under the pointer.
  const draw = (container, data, build) => {
    const key = JSON.stringify(data);
    if (container.dataset.drawn === key) return;
    container.dataset.drawn = key;
    container.replaceChildren(...[build()].flat());
  };
  // Back to the overview as it was left, with its filters.
  const crumbs = (...trail) => el('nav', { class: 'crumbs' }, link('#/' + (shownQuery ? '?' + shownQuery : ''), 'Overview'), trail.map((t) => [' › ', t]));
  const allows = (scope, needed) => SCOPES.indexOf(scope) >= SCOPES.indexOf(needed);
`;
