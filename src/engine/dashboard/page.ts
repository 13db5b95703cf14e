// The dashboard page's markup; its style (`style.ts`) and script (`script.ts`) are served as files, so that nothing
// inline runs or applies.

export const dashboardPage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pushworker dashboard</title>
<link rel="stylesheet" href="/dashboard/app.css">
</head>
<body>
<header><h1>pushworker</h1><span class="dim" id="updated">connecting…</span><span class="dim" id="scope"></span><span id="error"></span></header>
<form id="login" hidden>
  <label for="token-input">API token</label>
  <input id="token-input" name="token" type="password" autocomplete="off" required placeholder="pwt.… or a static token">
  <button type="submit">Open</button>
  <p class="dim">Any scope: a <code>read</code> token observes, an <code>admin</code> token also pauses, resumes and removes workers. It is kept in this tab only.</p>
</form>
<main id="board" hidden>
  <section><h2>Workers</h2><table id="workers"><thead><tr>
    <th>Name</th><th>State</th><th>Slots</th><th>Labels</th><th>Tasks</th><th>Last heartbeat</th><th></th>
  </tr></thead><tbody></tbody></table></section>
  <section><h2>Tasks</h2><table id="tasks"><thead><tr>
    <th>Task</th><th>Queued</th><th>Ready</th><th>Running</th><th>Workers</th><th>Slots</th>
  </tr></thead><tbody></tbody></table></section>
  <section><h2>Schedules</h2><table id="schedules"><thead><tr>
    <th>Name</th><th>Task</th><th>Cron</th><th>Time zone</th><th>State</th><th>Next tick</th><th>Last tick</th>
  </tr></thead><tbody></tbody></table></section>
  <section><h2>Recent runs</h2><table id="runs"><thead><tr>
    <th>Run</th><th>Task</th><th>State</th><th>Attempt</th><th>Duration</th><th>Enqueued</th>
  </tr></thead><tbody></tbody></table></section>
</main>
<script src="/dashboard/app.js" defer></script>
</body>
</html>
`;
