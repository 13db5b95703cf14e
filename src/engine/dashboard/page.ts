// The dashboard page's markup and style; its script is `script.ts`, served as a file so that no inline script runs.

export const dashboardPage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pushworker dashboard</title>
<style>
  :root { --bg:#0f1117; --panel:#171a23; --line:#262a36; --text:#e6e8ee; --dim:#8b91a3; --ok:#3ccf8e; --warn:#f2c14e; --bad:#ef5b5b; --info:#5aa2ff; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.45 system-ui, sans-serif; background:var(--bg); color:var(--text); }
  header { display:flex; align-items:baseline; gap:16px; padding:14px 22px; border-bottom:1px solid var(--line); }
  header h1 { font-size:18px; margin:0; }
  header .dim { color:var(--dim); }
  .problem { color:var(--bad); font-size:12px; margin-top:2px; }
  main { padding:18px 22px; display:grid; gap:18px; }
  section { background:var(--panel); border:1px solid var(--line); border-radius:8px; padding:12px 14px; }
  h2 { font-size:14px; margin:0 0 8px; color:var(--dim); text-transform:uppercase; letter-spacing:.05em; }
  table { width:100%; border-collapse:collapse; }
  th, td { text-align:left; padding:6px 8px; border-bottom:1px solid var(--line); white-space:nowrap; }
  th { color:var(--dim); font-weight:500; }
  td.num { font-variant-numeric: tabular-nums; }
  .state { padding:1px 8px; border-radius:10px; font-size:12px; font-weight:600; }
  .ACTIVE, .COMPLETED { background:#123524; color:var(--ok); }
  .PAUSED, .QUEUED, .ASSIGNED { background:#3a3115; color:var(--warn); }
  .INACTIVE, .FAILED, .CANCELLED { background:#3a1818; color:var(--bad); }
  .STOPPED { background:#22252f; color:var(--dim); }
  .RUNNING { background:#132a47; color:var(--info); }
  .bar { display:inline-block; width:90px; height:8px; background:var(--line); border-radius:4px; vertical-align:middle; margin-right:6px; }
  .bar > i { display:block; height:100%; background:var(--info); border-radius:4px; }
  button { background:#222735; color:var(--text); border:1px solid var(--line); border-radius:6px; padding:3px 10px; cursor:pointer; }
  button:hover { border-color:var(--info); }
  #error { color:var(--bad); }
  .empty { color:var(--dim); padding:6px 8px; }
</style>
</head>
<body>
<header><h1>pushworker</h1><span class="dim" id="updated">connecting…</span><span class="dim" id="scope"></span><span id="error"></span></header>
<main>
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
