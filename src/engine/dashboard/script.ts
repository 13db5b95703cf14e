// The dashboard's script, served as one file and assembled here from its parts (script/): each defines names in
// the one scope they share, and the session starts it all. The API token comes from the URL fragment (never sent
// to the server) or the page's form, and stays in sessionStorage. The states and scopes it reasons about are the
// protocol's own.
import { ApiScope, LiveRunState, RunState, TerminalRunState } from '../../protocol/schemas.ts';
import { basics } from './script/basics.ts';
import { charts } from './script/charts.ts';
import { overview } from './script/overview.ts';
import { runPage } from './script/run-page.ts';
import { runsList } from './script/runs-list.ts';
import { session } from './script/session.ts';
import { workerActions } from './script/worker-actions.ts';
import { workerPage } from './script/worker-page.ts';
import { workflowRunPage } from './script/workflow-run-page.ts';

const constants = [
  `const SCOPES = ${JSON.stringify(ApiScope.options)};`,
  `const RUN_STATES = ${JSON.stringify(RunState.options)};`,
  `const LIVE_RUN_STATES = ${JSON.stringify(LiveRunState.options)};`,
  `const TERMINAL_RUN_STATES = ${JSON.stringify(TerminalRunState.options)};`,
].join('\n  ');

export const dashboardScript = `(() => {
  'use strict';
  ${constants}
${[basics, workerActions, charts, overview, runsList, runPage, workerPage, workflowRunPage, session].join('')}})();
`;
