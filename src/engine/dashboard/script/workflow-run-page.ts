// A workflow run's page (#/workflow-runs/<id>): its state, its input, and each task of its DAG with its run.

export const workflowRunPage = String.raw`
  const workflowRunPage = {
    pattern: /^\/workflow-runs\/([^/]+)$/,
    main: 'workflow-page',
    async refresh([id], isCurrent) {
      const run = await api('/v1/workflow-runs/' + encodeURIComponent(id)).catch((e) => { if (e.code === 'not_found') return null; throw e; });
      if (!isCurrent()) return;
      draw($('workflow-page'), run, () => !run ? [crumbs('workflow run ' + id), el('p', { 'data-missing': id }, 'There is no workflow run ' + id + '.')] : [
        crumbs('workflow run ' + run.id),
        el('section', {}, el('div', { class: 'title' }, el('h2', {}, 'Workflow ', el('code', {}, run.workflow)), state(run.state)),
          facts([['Id', run.id], ['Enqueued', when(run.createdAt)], ['Finished', when(run.finishedAt)], run.idempotencyKey && ['Idempotency key', run.idempotencyKey]])),
        el('section', {}, el('h2', {}, 'Input'), json(run.input, 'input')),
        el('section', {}, el('h2', {}, 'Tasks'), table(['Task', 'Parents', 'State', 'Run'], run.tasks.map((t) => el('tr', { 'data-task': t.task },
          el('td', {}, t.task), el('td', {}, t.parents.join(', ') || '–'), el('td', {}, state(t.state)), el('td', {}, t.runId ? runLink(t.runId) : '–'))),
          'no tasks', { id: 'workflow-tasks' })),
      ]);
    },
  };
`;
