// The runs list on the overview: counts per live state, filters by state, task, worker, metadata (key=value) and
// enqueue time, kept in the URL (#/?task=…) so that a filtered list can be shared, a page at a time (older,
// newer), a run opened by its id, and the bulk retry of the failed runs the task filter selects (admin).

export const runsList = String.raw`
  const PAGE_SIZES = [10, 50, 200];
  const FILTER_DEFAULTS = { state: '', task: '', worker: '', metadata: '', createdAfter: '', createdBefore: '', limit: 50 };
  const runsFilter = { ...FILTER_DEFAULTS, cursor: undefined, newer: [] };
  let bulkArmed = false;
  const bulkLimit = 100;
  const readRunsList = async () => {
    const query = new URLSearchParams({ limit: String(runsFilter.limit) });
    for (const name of ['state', 'task', 'worker', 'metadata', 'createdAfter', 'createdBefore']) if (runsFilter[name]) query.set(name, runsFilter[name]);
    if (runsFilter.cursor) query.set('cursor', runsFilter.cursor);
    const [page, counts] = await Promise.all([api('/v1/runs?' + query), api('/v1/stats/runs')]);
    return { page, counts: counts.states };
  };
  // The filters as the URL says them: what is not a valid filter is left out, and said.
  const filterQuery = () => {
    const query = new URLSearchParams();
    for (const [name, empty] of Object.entries(FILTER_DEFAULTS)) if (runsFilter[name] !== empty) query.set(name, String(runsFilter[name]));
    return query.toString();
  };
  const validFilters = (query) => {
    const wanted = { ...FILTER_DEFAULTS }, problems = [];
    const states = query.get('state');
    if (states) { if (states.split(',').every((s) => RUN_STATES.includes(s))) wanted.state = states; else problems.push('state ' + states + ' is not a run state'); }
    for (const name of ['task', 'worker']) if (query.get(name)) wanted[name] = query.get(name);
    const metadata = query.get('metadata');
    if (metadata !== null && metadata !== '') { if (/^[^=]{1,200}=/.test(metadata)) wanted.metadata = metadata; else problems.push('metadata takes key=value'); }
    for (const name of ['createdAfter', 'createdBefore']) {
      const time = query.get(name);
      if (time) { if (Number.isNaN(Date.parse(time))) problems.push(name + ' ' + time + ' is not a time'); else wanted[name] = new Date(time).toISOString(); }
    }
    if (wanted.createdAfter && wanted.createdBefore && wanted.createdAfter >= wanted.createdBefore) { problems.push('enqueued before must come after enqueued after'); wanted.createdBefore = ''; }
    const limit = query.get('limit');
    if (limit !== null) { if (PAGE_SIZES.includes(Number(limit))) wanted.limit = Number(limit); else problems.push('per page is one of ' + PAGE_SIZES.join(', ')); }
    return { wanted, problems };
  };
  // A datetime-local field holds the browser's local time, without a zone.
  const localTime = (iso) => { if (!iso) return ''; const d = new Date(iso); return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 19); };
  const showFilters = () => {
    $('filter-state').value = runsFilter.state;
    if (document.activeElement !== $('filter-task')) $('filter-task').value = runsFilter.task;
    if (document.activeElement !== $('filter-metadata')) $('filter-metadata').value = runsFilter.metadata;
    $('filter-worker').value = runsFilter.worker;
    $('filter-after').value = localTime(runsFilter.createdAfter);
    $('filter-before').value = localTime(runsFilter.createdBefore);
    $('page-size').value = String(runsFilter.limit);
  };
  const filtered = () => Object.entries(FILTER_DEFAULTS).some(([name, empty]) => name !== 'limit' && runsFilter[name] !== empty);
  let shownQuery = '';
  // The overview's URL names its filters: a link opened, or a fragment edited, sets them.
  const filtersFromUrl = () => {
    const raw = location.hash.replace(/^#\/?\??/, '');
    if (raw === shownQuery) return;
    const { wanted, problems } = validFilters(new URLSearchParams(raw));
    Object.assign(runsFilter, wanted, { cursor: undefined, newer: [] });
    $('filter-said').textContent = problems.length ? 'left out: ' + problems.join('; ') : '';
    shownQuery = filterQuery();
    if (shownQuery !== raw) history.replaceState(null, '', '#/' + (shownQuery ? '?' + shownQuery : ''));
    showFilters();
  };
  // A changed filter starts again from the newest page.
  const setRunsFilter = (change) => {
    const { wanted, problems } = validFilters(new URLSearchParams({ ...runsFilter, ...change }));
    Object.assign(runsFilter, wanted, { cursor: undefined, newer: [] });
    $('filter-said').textContent = problems.length ? 'left out: ' + problems.join('; ') : '';
    bulkArmed = false;
    shownQuery = filterQuery();
    history.replaceState(null, '', '#/' + (shownQuery ? '?' + shownQuery : ''));
    showFilters();
    $('bulk-said').textContent = '';
    kick();
  };
  const bulkLabel = () => (bulkArmed ? 'Confirm: retry up to ' + bulkLimit + ' failed runs of ' : 'Retry failed runs of ') + (runsFilter.task || 'every task');
  const drawRunsList = ({ page, counts }, taskStats, workers) => {
    const names = [...new Set([...taskStats.map((s) => s.task), ...workers.flatMap((w) => w.tasks.map((t) => t.name))])].sort();
    draw($('task-names'), names, () => names.map((name) => el('option', { value: name })));
    // A worker the filter names stays offered after it is gone, so that the list still says what it shows.
    const workerOptions = [...workers.map((w) => [w.id, w.name]), ...(runsFilter.worker && !workers.some((w) => w.id === runsFilter.worker) ? [[runsFilter.worker, runsFilter.worker]] : [])];
    draw($('filter-worker'), workerOptions, () => [el('option', { value: '' }, 'any worker'), ...workerOptions.map(([id, name]) => el('option', { value: id }, name))]);
    $('filter-worker').value = runsFilter.worker;
    draw($('run-counts'), counts, () => Object.entries(counts).map(([s, n]) =>
      el('button', { type: 'button', class: 'count', 'data-count': s, title: 'show only ' + s + ' runs', onclick: () => setRunsFilter({ state: s }) }, s + ' ', el('b', {}, n))));
    fill('runs', page.runs.map((r) => el('tr', { 'data-run': r.id },
      el('td', {}, runLink(r.id)), el('td', {}, r.task),
      el('td', {}, state(r.state), r.waitingFor ? el('div', { class: 'why', 'data-why': r.id }, 'waiting for ' + r.waitingFor) : ''),
      el('td', { class: 'num' }, r.attempt), el('td', { class: 'num' }, duration(r)), el('td', {}, ago(r.createdAt)))),
      filtered() ? 'no runs match' : 'no runs yet');
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
  $('filter-worker').addEventListener('change', (event) => setRunsFilter({ worker: event.target.value }));
  let typingMetadata;
  $('filter-metadata').addEventListener('input', (event) => { clearTimeout(typingMetadata); typingMetadata = setTimeout(() => setRunsFilter({ metadata: event.target.value.trim() }), 250); });
  const timeOf = (local) => (local ? new Date(local).toISOString() : '');
  $('filter-after').addEventListener('change', (event) => setRunsFilter({ createdAfter: timeOf(event.target.value) }));
  $('filter-before').addEventListener('change', (event) => setRunsFilter({ createdBefore: timeOf(event.target.value) }));
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
