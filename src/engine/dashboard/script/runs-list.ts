// The runs list on the overview: counts per live state, filters by state and task, a page at a time (older,
// newer), a run opened by its id, and the bulk retry of the failed runs the task filter selects (admin).

export const runsList = `
  const runsFilter = { state: '', task: '', limit: 50, cursor: undefined, newer: [] };
  let bulkArmed = false;
  const bulkLimit = 100;
  const readRunsList = async () => {
    const query = new URLSearchParams({ limit: String(runsFilter.limit) });
    if (runsFilter.state) query.set('state', runsFilter.state);
    if (runsFilter.task) query.set('task', runsFilter.task);
    if (runsFilter.cursor) query.set('cursor', runsFilter.cursor);
    const [page, counts] = await Promise.all([api('/v1/runs?' + query), api('/v1/stats/runs')]);
    return { page, counts: counts.states };
  };
  // A changed filter starts again from the newest page.
  const setRunsFilter = (change) => {
    Object.assign(runsFilter, change, { cursor: undefined, newer: [] });
    bulkArmed = false;
    $('filter-state').value = runsFilter.state;
    $('bulk-said').textContent = '';
    kick();
  };
  const bulkLabel = () => (bulkArmed ? 'Confirm: retry up to ' + bulkLimit + ' failed runs of ' : 'Retry failed runs of ') + (runsFilter.task || 'every task');
  const drawRunsList = ({ page, counts }, taskStats, workers) => {
    const names = [...new Set([...taskStats.map((s) => s.task), ...workers.flatMap((w) => w.tasks.map((t) => t.name))])].sort();
    draw($('task-names'), names, () => names.map((name) => el('option', { value: name })));
    draw($('run-counts'), counts, () => Object.entries(counts).map(([s, n]) =>
      el('button', { type: 'button', class: 'count', 'data-count': s, title: 'show only ' + s + ' runs', onclick: () => setRunsFilter({ state: s }) }, s + ' ', el('b', {}, n))));
    fill('runs', page.runs.map((r) => el('tr', { 'data-run': r.id },
      el('td', {}, runLink(r.id)), el('td', {}, r.task),
      el('td', {}, state(r.state), r.waitingFor ? el('div', { class: 'why', 'data-why': r.id }, 'waiting for ' + r.waitingFor) : ''),
      el('td', { class: 'num' }, r.attempt), el('td', { class: 'num' }, duration(r)), el('td', {}, ago(r.createdAt)))),
      runsFilter.state || runsFilter.task ? 'no runs match' : 'no runs yet');
    $('older').hidden = !page.nextCursor;
    $('older').onclick = () => { runsFilter.newer.push(runsFilter.cursor); runsFilter.cursor = page.nextCursor; kick(); };
    $('newer').hidden = runsFilter.newer.length === 0;
    $('bulk-retry').hidden = !allows(scope, 'admin');
    $('bulk-retry').textContent = bulkLabel();
  };
  $('newer').onclick = () => { runsFilter.cursor = runsFilter.newer.pop(); kick(); };
  $('filter-state').replaceChildren(el('option', { value: '' }, 'any state'), el('option', { value: LIVE_RUN_STATES.join(',') }, 'live (' + LIVE_RUN_STATES.join(', ') + ')'),
    ...RUN_STATES.map((s) => el('option', { value: s }, s)));
  $('filter-state').addEventListener('change', (event) => setRunsFilter({ state: event.target.value }));
  let typing;
  $('filter-task').addEventListener('input', (event) => { clearTimeout(typing); typing = setTimeout(() => setRunsFilter({ task: event.target.value.trim() }), 250); });
  $('page-size').addEventListener('change', (event) => setRunsFilter({ limit: Number(event.target.value) }));
  $('run-filters').addEventListener('submit', (event) => event.preventDefault());
  $('run-search').addEventListener('submit', (event) => {
    event.preventDefault();
    const id = $('run-id').value.trim();
    if (id) location.hash = '#/runs/' + encodeURIComponent(id);
  });
  // A bulk action asks once more before it acts: the first click arms it, the second retries.
  $('bulk-retry').addEventListener('click', perform(async () => {
    if (!bulkArmed) { bulkArmed = true; $('bulk-retry').textContent = bulkLabel(); return; }
    bulkArmed = false;
    const done = await post('/v1/runs/retry', { state: ['FAILED'], ...(runsFilter.task ? { task: runsFilter.task } : {}), limit: bulkLimit });
    $('bulk-said').textContent = 'queued again ' + done.runs.length + ' failed run' + (done.runs.length === 1 ? '' : 's');
  }));
`;
