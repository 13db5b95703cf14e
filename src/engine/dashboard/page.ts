// The dashboard page's markup; its style (`style.ts`) and script (`script.ts`) are served as files, so that nothing
// inline runs or applies. The overview is here, its charts drawn by the script; a run's, a worker's and a workflow
// run's pages are drawn by the script into their own `main`.

export const dashboardPage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pushworker dashboard</title>
<link rel="stylesheet" href="/dashboard/app.css">
</head>
<body>
<header><h1><a href="#/">pushworker</a></h1><span class="dim" id="updated">connecting…</span><span class="dim" id="scope"></span><span id="error"></span><span id="said" role="status"></span>
  <nav id="nav" hidden><form id="run-search" class="toolbar" role="search">
    <label for="run-id" class="dim">Run id</label><input id="run-id" name="run" autocomplete="off" required placeholder="open a run by id">
    <button type="submit">Open</button>
  </form></nav>
</header>
<form id="login" hidden>
  <label for="token-input">API token</label>
  <input id="token-input" name="token" type="password" autocomplete="off" required placeholder="pwt.… or a static token">
  <button type="submit">Open</button>
  <p class="dim">Any scope: a <code>read</code> token observes, an <code>enqueue</code> token also cancels and retries runs, an <code>admin</code> token also pauses, resumes and removes workers and retries failed runs in bulk. It is kept in this tab only.</p>
</form>
<main id="board" hidden>
  <section id="charts-section"><h2>Last 15 minutes</h2><div id="charts" class="charts"></div></section>
  <section><h2>Workers</h2><div class="scroll"><table id="workers"><thead><tr>
    <th>Name</th><th>State</th><th>Slots</th><th>Labels</th><th>Tasks</th><th>Last heartbeat</th><th></th>
  </tr></thead><tbody></tbody></table></div></section>
  <section><h2>Tasks</h2><div class="scroll"><table id="tasks"><thead><tr>
    <th>Task</th><th>Queued</th><th>Ready</th><th>Running</th><th>Workers</th><th>Slots</th>
  </tr></thead><tbody></tbody></table></div></section>
  <section><h2>Schedules</h2><div class="scroll"><table id="schedules"><thead><tr>
    <th>Name</th><th>Task</th><th>Cron</th><th>Time zone</th><th>State</th><th>Next tick</th><th>Last tick</th>
  </tr></thead><tbody></tbody></table></div></section>
  <section id="runs-section"><h2>Runs</h2>
    <div class="toolbar"><span class="dim">Live:</span><span id="run-counts" class="toolbar"></span></div>
    <form id="run-filters" class="toolbar">
      <label>State <select id="filter-state"></select></label>
      <label>Task <input id="filter-task" list="task-names" autocomplete="off" placeholder="any task"></label>
      <datalist id="task-names"></datalist>
      <label>Worker <select id="filter-worker"><option value="">any worker</option></select></label>
      <label>Metadata <input id="filter-metadata" autocomplete="off" placeholder="key=value"></label>
      <label>Enqueued after <input id="filter-after" type="datetime-local" step="1"></label>
      <label>before <input id="filter-before" type="datetime-local" step="1"></label>
      <label>Per page <select id="page-size"><option>10</option><option selected>50</option><option>200</option></select></label>
    </form>
    <p id="filter-said" class="problem" role="status"></p>
    <div class="toolbar"><button type="button" id="bulk-retry" hidden></button><span id="bulk-said" class="dim"></span></div>
    <div class="scroll"><table id="runs"><thead><tr>
      <th>Run</th><th>Task</th><th>State</th><th>Attempt</th><th>Duration</th><th>Enqueued</th>
    </tr></thead><tbody></tbody></table></div>
    <div class="toolbar pager"><button type="button" id="newer" hidden>Newer</button><button type="button" id="older" hidden>Older</button></div>
  </section>
</main>
<main id="run-page" hidden></main>
<main id="worker-page" hidden></main>
<main id="workflow-page" hidden></main>
<script src="/dashboard/app.js" defer></script>
</body>
</html>
`;
