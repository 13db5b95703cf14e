// The dashboard's style, served as a file: the page's policy allows no inline style.

export const dashboardStyle = `  :root { --bg:#0f1117; --panel:#171a23; --line:#262a36; --text:#e6e8ee; --dim:#8b91a3; --ok:#3ccf8e; --warn:#f2c14e; --bad:#ef5b5b; --info:#5aa2ff; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.45 system-ui, sans-serif; background:var(--bg); color:var(--text); }
  header { display:flex; flex-wrap:wrap; align-items:baseline; gap:4px 16px; padding:14px 22px; border-bottom:1px solid var(--line); }
  header h1 { font-size:18px; margin:0; }
  header h1 a { color:inherit; text-decoration:none; }
  header nav { margin-left:auto; }
  a { color:var(--info); }
  code { overflow-wrap:anywhere; }
  header .dim { color:var(--dim); }
  .problem { color:var(--bad); font-size:12px; margin-top:2px; }
  .why { color:var(--dim); font-size:12px; margin-top:2px; white-space:normal; }
  main { padding:18px 22px; display:grid; gap:18px; grid-template-columns:minmax(0, 1fr); }
  section { background:var(--panel); border:1px solid var(--line); border-radius:8px; padding:12px 14px; min-width:0; }
  .scroll { overflow-x:auto; }
  .toolbar { display:flex; flex-wrap:wrap; align-items:center; gap:6px 12px; margin-bottom:8px; }
  .pager { margin:8px 0 0; }
  input, select { background:var(--bg); color:var(--text); border:1px solid var(--line); border-radius:6px; padding:4px 8px; font:inherit; max-width:100%; }
  .count b { margin-left:2px; }
  .crumbs { color:var(--dim); }
  .title { display:flex; flex-wrap:wrap; align-items:center; gap:6px 12px; margin-bottom:8px; }
  .title h2 { margin:0; text-transform:none; letter-spacing:0; color:var(--text); font-size:16px; }
  .actions { display:flex; gap:8px; margin-left:auto; }
  .facts { display:grid; grid-template-columns:max-content minmax(0, 1fr); gap:4px 16px; margin:0; }
  .facts dt { color:var(--dim); }
  .facts dd { margin:0; overflow-wrap:anywhere; }
  pre { margin:0; padding:8px; background:var(--bg); border:1px solid var(--line); border-radius:6px; white-space:pre-wrap; overflow-wrap:anywhere; max-height:420px; overflow:auto; }
  .error-box { display:grid; gap:6px; color:var(--bad); }
  .error-box pre { color:var(--text); }
  td.wrap { white-space:normal; }
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
  progress { appearance:none; width:90px; height:8px; border:0; border-radius:4px; background:var(--line); vertical-align:middle; margin-right:6px; }
  progress::-webkit-progress-bar { background:var(--line); border-radius:4px; }
  progress::-webkit-progress-value { background:var(--info); border-radius:4px; }
  progress::-moz-progress-bar { background:var(--info); border-radius:4px; }
  button { background:#222735; color:var(--text); border:1px solid var(--line); border-radius:6px; padding:3px 10px; cursor:pointer; }
  button:hover { border-color:var(--info); }
  #error, #said { color:var(--bad); }
  .empty { color:var(--dim); padding:6px 8px; }
  #login { max-width:420px; margin:40px auto; padding:18px; background:var(--panel); border:1px solid var(--line); border-radius:8px; display:grid; gap:10px; }
  #login input { background:var(--bg); color:var(--text); border:1px solid var(--line); border-radius:6px; padding:8px; font:inherit; }
  #login p { margin:0; font-size:12px; }
  .charts { display:grid; grid-template-columns:repeat(auto-fit, minmax(min(100%, 320px), 1fr)); gap:12px; }
  .chart { margin:0; min-width:0; }
  .chart figcaption { font-weight:600; margin-bottom:4px; }
  .chart svg { display:block; width:100%; height:auto; }
  .chart .axis { stroke:var(--dim); }
  .chart .grid { stroke:var(--line); }
  .chart text { fill:var(--dim); font-size:12px; }
  .chart .line { fill:none; stroke-width:2; stroke-linejoin:round; }
  .legend { list-style:none; margin:4px 0 0; padding:0; display:flex; flex-wrap:wrap; gap:2px 14px; font-size:12px; }
  .swatch { display:inline-block; width:10px; height:10px; border-radius:2px; margin-right:4px; }
  .line.c0 { stroke:var(--ok); } .line.c1 { stroke:var(--bad); } .line.c2 { stroke:var(--info); }
  .line.c3 { stroke:var(--warn); } .line.c4 { stroke:#c08cff; } .line.c5 { stroke:#7fd6d6; }
  .swatch.c0 { background:var(--ok); } .swatch.c1 { background:var(--bad); } .swatch.c2 { background:var(--info); }
  .swatch.c3 { background:var(--warn); } .swatch.c4 { background:#c08cff; } .swatch.c5 { background:#7fd6d6; }
  #filter-said:empty { display:none; }
  [hidden] { display:none !important; }
  /* A phone: each row is a card of label and value, so the page never scrolls sideways. */
  @media (max-width: 700px) {
    header, main { padding-left:12px; padding-right:12px; }
    table, tbody, tr, td { display:block; width:100%; }
    thead { display:none; }
    tr { border-bottom:1px solid var(--line); padding:6px 0; }
    td { display:flex; justify-content:space-between; gap:12px; border:0; padding:2px 4px; white-space:normal; overflow-wrap:anywhere; text-align:right; }
    td::before { content:attr(data-label); color:var(--dim); text-align:left; white-space:nowrap; }
    td.empty::before { content:none; }
  }
`;
