// A worker's page (#/workers/<id>): its address, labels, slots, the tasks it serves, the runs it holds, why its
// pushes fail, and the actions its state allows (worker-actions.ts).

export const workerPage = String.raw`
  const workerPage = {
    pattern: /^\/workers\/([^/]+)$/,
    main: 'worker-page',
    async refresh([id], isCurrent) {
      const [workers, held] = await Promise.all([api('/v1/workers'),
        api('/v1/runs?state=ASSIGNED,RUNNING&limit=500&worker=' + encodeURIComponent(id))]);
      if (!isCurrent()) return;
      const w = workers.workers.find((w) => w.id === id);
      draw($('worker-page'), { w, held: held.runs, scope }, () => !w ? [crumbs('worker ' + id), el('p', { 'data-missing': id }, 'There is no worker ' + id + ' (it may have been removed).')] : [
        crumbs('worker ' + w.name),
        el('section', { 'data-worker-page': w.name }, el('div', { class: 'title' }, el('h2', {}, 'Worker ', el('code', {}, w.name)), state(w.state),
          el('span', { class: 'actions' }, actionsFor(w, () => { location.hash = '#/'; }))),
          facts([['Id', w.id], ['URL', w.url, 'url'], ['Kind', w.kind], ['Slots', bar(w.slots.used, w.slots.total), 'slots'], ['Labels', labelsOf(w.labels), 'labels'],
            ['Last heartbeat', when(w.lastHeartbeatAt)],
            w.pushFailing && ['Pushes failing', el('span', { class: 'problem', 'data-problem': w.name }, 'since ', when(w.pushFailing.since), ': ', w.pushFailing.reason)]])),
        el('section', {}, el('h2', {}, 'Tasks'), table(['Task', 'Timeout', 'Retries', 'Slot cost'], w.tasks.map((t) => el('tr', { 'data-task': t.name },
          el('td', {}, t.name), el('td', { class: 'num' }, t.timeoutMs + ' ms'), el('td', { class: 'num' }, t.retries), el('td', { class: 'num' }, t.slotCost))), 'no tasks')),
        el('section', {}, el('h2', {}, 'Runs it holds'), table(['Run', 'Task', 'State', 'Attempt', 'Started'], held.runs.map((r) => el('tr', { 'data-run': r.id },
          el('td', {}, runLink(r.id)), el('td', {}, r.task), el('td', {}, state(r.state)), el('td', { class: 'num' }, r.attempt), el('td', {}, when(r.startedAt)))),
          'none', { id: 'held-runs' })),
      ]);
    },
  };
`;
