// A run's page (#/runs/<id>): what it was given, what it gave back or how it failed, every attempt, the workflow
// run it belongs to, and Cancel (while it has not finished) or Retry (once it has), when the token may enqueue.

export const runPage = String.raw`
  const errorOf = (error, name) => el('div', { class: 'error-box', 'data-error': name },
    el('div', {}, el('b', { 'data-error-name': '' }, error.name), ': ', el('span', { 'data-error-message': '' }, error.message), error.retryable ? '' : el('span', { class: 'dim' }, ' (not retryable)')),
    error.stack ? el('pre', { class: 'stack', 'data-stack': '' }, error.stack) : '');
  const runActions = (run) => {
    if (!allows(scope, 'enqueue')) return [];
    const id = encodeURIComponent(run.id);
    return TERMINAL_RUN_STATES.includes(run.state)
      ? [el('button', { onclick: perform(() => post('/v1/runs/' + id + '/retry')) }, 'Retry')]
      : [el('button', { onclick: perform(() => post('/v1/runs/' + id + '/cancel')) }, 'Cancel')];
  };
  const attemptRows = (run, names) => {
    const rows = run.attempts.map((a) => el('tr', { 'data-attempt': a.attempt },
      el('td', { class: 'num' }, a.attempt), el('td', {}, a.workerId ? workerLink(a.workerId, names.get(a.workerId)) : '–'),
      el('td', {}, when(a.assignedAt)), el('td', {}, when(a.startedAt)), el('td', {}, when(a.endedAt)),
      el('td', { class: 'num' }, span(a.startedAt || a.assignedAt, a.endedAt)),
      el('td', { 'data-outcome': a.outcome }, a.outcome), el('td', { class: 'wrap' }, a.error ? a.error.name + ': ' + a.error.message : '')));
    // The attempt under way has no record yet: it is the run itself.
    if (run.state === 'ASSIGNED' || run.state === 'RUNNING') rows.push(el('tr', { 'data-attempt': run.attempt },
      el('td', { class: 'num' }, run.attempt), el('td', {}, run.workerId ? workerLink(run.workerId, names.get(run.workerId)) : '–'),
      el('td', {}, '–'), el('td', {}, when(run.startedAt)), el('td', {}, '–'), el('td', { class: 'num' }, 'running'),
      el('td', { 'data-outcome': 'under way' }, 'under way'), el('td', {}, '')));
    return rows;
  };
  const runPage = {
    pattern: /^\/runs\/([^/]+)$/,
    main: 'run-page',
    async refresh([id], isCurrent) {
      const [run, workers] = await Promise.all([api('/v1/runs/' + encodeURIComponent(id)).catch((e) => { if (e.code === 'not_found') return null; throw e; }), api('/v1/workers')]);
      if (!isCurrent()) return;
      const names = new Map(workers.workers.map((w) => [w.id, w.name]));
      draw($('run-page'), { run, names: [...names], scope }, () => !run ? [crumbs('run ' + id), el('p', { 'data-missing': id }, 'There is no run ' + id + '.')] : [
        crumbs('run ' + run.id),
        el('section', {}, el('div', { class: 'title' }, el('h2', {}, 'Run ', el('code', {}, run.id)), state(run.state), el('span', { class: 'actions' }, runActions(run))),
          facts([['Task', run.task, 'task'], ['Attempt', run.attempt + (run.failures ? ' (' + run.failures + ' failed)' : ''), 'attempt'],
            ['Worker', run.workerId ? workerLink(run.workerId, names.get(run.workerId)) : '–'],
            run.workflowRunId && ['Workflow run', link('#/workflow-runs/' + encodeURIComponent(run.workflowRunId), run.workflowRunId, { 'data-workflow-link': run.workflowRunId })],
            run.metadata && ['Metadata', labelsOf(Object.fromEntries(Object.entries(run.metadata).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]))), 'metadata'],
            ['Priority', run.priority], run.idempotencyKey && ['Idempotency key', run.idempotencyKey],
            ['Enqueued', when(run.createdAt)], ['Started', when(run.startedAt)], ['Finished', when(run.finishedAt)], ['Duration', duration(run)],
            run.waitingFor && ['Waiting for', run.waitingFor, 'waiting'], run.dueAt && ['Due', when(run.dueAt)],
            run.expiresAt && ['Queue deadline', when(run.expiresAt)], run.dead && ['Dead', run.dead, 'dead']])),
        el('section', {}, el('h2', {}, 'Input'), json(run.input, 'input')),
        run.state === 'COMPLETED' ? el('section', {}, el('h2', {}, 'Output'), json(run.output, 'output')) : '',
        run.error ? el('section', {}, el('h2', {}, 'Error'), errorOf(run.error, 'run')) : '',
        el('section', {}, el('h2', {}, 'Attempts'), table(['#', 'Worker', 'Assigned', 'Started', 'Ended', 'Took', 'Outcome', 'Error'], attemptRows(run, names), 'no attempt yet', { id: 'attempts' })),
      ]);
    },
  };
`;
