// The overview's charts of the last 15 minutes (GET /v1/stats/series), drawn as inline SVG: runs finished per
// second, queue depth per task, dispatch latency. Each says what it shows in words too (its label, its legend's
// latest values), for a screen reader and for a test that reads it.

export const charts = `
  const SERIES_EVERY_MS = 5000;
  let seriesRead = { at: 0, series: null };
  // The series changes by the bucket, not by the second: it is read again every few seconds only.
  const readSeries = async () => {
    if (Date.now() - seriesRead.at >= SERIES_EVERY_MS) seriesRead = { at: Date.now(), series: await api('/v1/stats/series?minutes=15') };
    return seriesRead.series;
  };
  const svg = (tag, attrs = {}, ...children) => {
    const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    for (const c of children.flat(Infinity)) if (c !== '' && c !== null && c !== undefined) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  };
  const niceMax = (v) => { if (!(v > 0)) return 1; const p = 10 ** Math.floor(Math.log10(v)); return [1, 2, 5, 10].map((m) => m * p).find((m) => m >= v); };
  const lastOf = (values) => { for (let i = values.length - 1; i >= 0; i--) if (values[i] !== null) return values[i]; return null; };
  const clock = (ms) => new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  const W = 420, H = 180, L = 44, R = 10, T = 20, B = 24;
  // lines: [{ name, values (null: nothing known), total? }]; format: a value as text with its unit.
  const chart = ({ id, title, unit, lines, from, to, format, empty }) => {
    const n = Math.max(1, ...lines.map((l) => l.values.length));
    const max = niceMax(Math.max(0, ...lines.flatMap((l) => l.values.filter((v) => v !== null))));
    const x = (i) => L + ((i + 0.5) * (W - L - R)) / n;
    const y = (v) => T + (1 - v / max) * (H - T - B);
    const path = (values) => values.map((v, i) => v === null ? '' : ((i === 0 || values[i - 1] === null) ? 'M' : 'L') + x(i).toFixed(1) + ' ' + y(v).toFixed(1)).join(' ').trim();
    const latest = lines.map((l) => ({ ...l, last: lastOf(l.values) }));
    const summary = title + ', ' + clock(from) + ' to ' + clock(to) + ': ' + (latest.length ? latest.map((l) => l.name + ' ' + (l.last === null ? 'none' : format(l.last)) + (l.total === undefined ? '' : ' (' + l.total + ' in 15 min)')).join(', ') : empty);
    const ticks = [0, max / 2, max];
    return el('figure', { class: 'chart', 'data-chart': id },
      el('figcaption', {}, title),
      svg('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': summary },
        svg('title', {}, summary),
        svg('text', { x: 4, y: 12, class: 'axis-title' }, unit),
        ticks.map((t) => [svg('line', { x1: L, x2: W - R, y1: y(t), y2: y(t), class: 'grid' }),
          svg('text', { x: L - 6, y: y(t) + 4, class: 'tick', 'text-anchor': 'end' }, +t.toPrecision(3))]),
        svg('line', { x1: L, x2: L, y1: T, y2: H - B, class: 'axis' }),
        svg('line', { x1: L, x2: W - R, y1: H - B, y2: H - B, class: 'axis' }),
        [[from, 'start'], [(from + to) / 2, 'middle'], [to, 'end']].map(([at, anchor]) =>
          svg('text', { x: L + ((at - from) / (to - from)) * (W - L - R), y: H - 6, class: 'tick', 'text-anchor': anchor }, clock(at))),
        latest.map((l, i) => svg('path', { d: path(l.values) || 'M0 0', class: 'line c' + (i % 6), 'data-line': l.name }))),
      el('ul', { class: 'legend' }, latest.length ? latest.map((l, i) => el('li', { 'data-series': l.name, 'data-last': l.last === null ? '' : String(l.last), ...(l.total === undefined ? {} : { 'data-total': String(l.total) }) },
        el('span', { class: 'swatch c' + (i % 6) }), l.name + ' ', el('b', {}, l.last === null ? '–' : format(l.last)), l.total === undefined ? '' : el('span', { class: 'dim' }, ' · ' + l.total + ' in 15 min'))) : el('li', { class: 'dim' }, empty)));
  };
  const sum = (values) => values.reduce((a, b) => a + b, 0);
  const rate = (seconds) => (v) => +(v / seconds).toFixed(2);
  const drawCharts = (s) => draw($('charts'), s, () => {
    const from = Date.parse(s.from), to = Date.parse(s.to), perSecond = rate(s.bucketMs / 1000);
    // The deepest queues now, at most six: more lines than that cannot be told apart.
    const deepest = [...s.queueDepth].sort((a, b) => (lastOf(b.depth) || 0) - (lastOf(a.depth) || 0) || a.task.localeCompare(b.task)).slice(0, 6);
    return [
      chart({ id: 'finished', title: 'Runs finished per second', unit: 'runs/s', from, to, format: (v) => v + '/s', empty: '',
        lines: [{ name: 'completed', values: s.completed.map(perSecond), total: sum(s.completed) }, { name: 'failed', values: s.failed.map(perSecond), total: sum(s.failed) }] }),
      chart({ id: 'queue-depth', title: 'Queue depth per task', unit: 'queued runs', from, to, format: (v) => String(v), empty: 'no queued runs',
        lines: deepest.map((q) => ({ name: q.task, values: q.depth })) }),
      chart({ id: 'dispatch-latency', title: 'Dispatch latency (due → assigned)', unit: 'ms', from, to, format: (v) => v + ' ms', empty: '',
        lines: [{ name: 'p50', values: s.dispatchLatencyMs.p50 }, { name: 'p99', values: s.dispatchLatencyMs.p99 }] }),
    ];
  });
`;
