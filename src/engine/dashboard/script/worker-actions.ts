// What an operator may do to a worker, the same on the overview and on the worker's page: pause a live one,
// resume a paused one, remove one that is gone; only with an admin token.

export const workerActions = `
  const workerAction = (w, action) => perform(() => post('/v1/workers/' + encodeURIComponent(w.id) + '/' + action));
  const removeWorker = (w, then) => perform(async () => { await api('/v1/workers/' + encodeURIComponent(w.id), { method: 'DELETE' }); if (then) then(); });
  const actionsFor = (w, afterRemove) => !allows(scope, 'admin') ? ''
    : w.state === 'ACTIVE' ? el('button', { onclick: workerAction(w, 'pause') }, 'Pause')
    : w.state === 'PAUSED' ? el('button', { onclick: workerAction(w, 'resume') }, 'Resume')
    : el('button', { onclick: removeWorker(w, afterRemove), 'data-remove': w.name }, 'Remove');
  const problem = (w) => w.pushFailing ? el('div', { class: 'problem', 'data-problem': w.name }, 'push failing: ' + w.pushFailing.reason) : '';
`;
