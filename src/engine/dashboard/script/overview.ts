// The overview page: charts of the last 15 minutes (charts.ts), workers (why their pushes fail), queue depth per
// task, schedules with their next ticks, and the runs list (runs-list.ts).

export const overview = String.raw`
  const overviewPage = {
    pattern: /^\/?$/,
    main: 'board',
    async refresh(_params, isCurrent) {
      filtersFromUrl();
      const [workers, stats, schedules, runs, series] = await Promise.all([api('/v1/workers'), api('/v1/stats/tasks'), api('/v1/schedules'), readRunsList(), readSeries()]);
      if (!isCurrent()) return;
      drawCharts(series);
      fill('workers', workers.workers.map((w) => el('tr', { 'data-worker': w.name },
        el('td', {}, workerLink(w.id, w.name)), el('td', {}, state(w.state), problem(w)), el('td', { class: 'num' }, bar(w.slots.used, w.slots.total)),
        el('td', {}, labelsOf(w.labels)), el('td', {}, w.tasks.map((t) => t.name).join(', ')), el('td', {}, ago(w.lastHeartbeatAt)),
        el('td', {}, actionsFor(w)))), 'no workers yet');
      fill('tasks', stats.tasks.map((s) => el('tr', { 'data-task': s.task },
        el('td', {}, s.task), el('td', { class: 'num', 'data-queued': s.queued }, s.queued), el('td', { class: 'num' }, s.ready),
        el('td', { class: 'num', 'data-running': s.assigned + s.running }, s.assigned + s.running), el('td', { class: 'num' }, s.workers),
        el('td', { class: 'num' }, s.slots.used + '/' + s.slots.total))), 'no tasks yet');
      fill('schedules', schedules.schedules.map((s) => el('tr', { 'data-schedule': s.name },
        el('td', {}, s.name), el('td', {}, s.task), el('td', { 'data-cron': s.cron }, s.cron), el('td', {}, s.timezone),
        el('td', {}, s.paused ? 'paused' : 'active', s.source === 'code' ? ' (code)' : ''),
        el('td', { 'data-next': s.nextTickAt || '' }, s.nextTickAt ? new Date(s.nextTickAt).toLocaleString() : '–'),
        el('td', {}, s.lastTickAt ? new Date(s.lastTickAt).toLocaleString() : '–'))), 'no schedules');
      drawRunsList(runs, stats.tasks, workers.workers);
    },
  };
`;
