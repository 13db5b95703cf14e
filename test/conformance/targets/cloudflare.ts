// The Cloudflare example as deployed: bundled by wrangler, then run inside workerd through miniflare.
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Log, LogLevel, Miniflare } from 'miniflare';
import {
  type Deployment,
  type EngineWiring,
  HATCHET_NAMED,
  type HttpCall,
  type Reply,
  replyOf,
  startOnSink,
  type TargetFactory,
  workerEnv,
} from './target.ts';

const root = new URL('../../../', import.meta.url).pathname;

export interface Bundle {
  dir: string;
  scriptPath: string;
  code: string;
  compatibilityDate: string;
  compatibilityFlags: string[];
}

const bundles = new Map<string, Promise<Bundle>>();

/**
 * `wrangler deploy --dry-run` on the top-level wrangler.toml, once per entry per test run (no network
 * needed). `entry` replaces the toml's `main`, keeping its date, flags and bindings.
 */
export function bundleCloudflareExample(entry?: string): Promise<Bundle> {
  const key = entry ?? '';
  let bundling = bundles.get(key);
  if (!bundling) {
    bundling = bundleWithWrangler(entry);
    bundles.set(key, bundling);
  }
  return bundling;
}

async function bundleWithWrangler(entry: string | undefined): Promise<Bundle> {
  const dir = await mkdtemp(join(tmpdir(), 'pushworker-cf-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  await promisify(execFile)(
    join(root, 'node_modules/.bin/wrangler'),
    ['deploy', ...(entry ? [entry] : []), '--dry-run', '--outdir', dir],
    { cwd: root, env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: '1' } },
  );
  const script = (await readdir(dir)).find((f) => f.endsWith('.js'));
  if (!script) throw new Error(`wrangler produced no bundle in ${dir}`);
  const toml = await readFile(join(root, 'wrangler.toml'), 'utf8');
  const compatibilityDate = /^compatibility_date\s*=\s*"([^"]+)"/m.exec(toml)?.[1];
  if (!compatibilityDate) throw new Error('wrangler.toml has no compatibility_date');
  const flags = /^compatibility_flags\s*=\s*\[([^\]]*)\]/m.exec(toml)?.[1] ?? '';
  const compatibilityFlags = [...flags.matchAll(/"([^"]+)"/g)].map((m) => m[1]!);
  const scriptPath = join(dir, script);
  const code = await readFile(scriptPath, 'utf8');
  return { dir, scriptPath, code, compatibilityDate, compatibilityFlags };
}

/** The bundled example (or `entry`) inside workerd, with wrangler.toml's date, flags and Durable Object. */
export async function runCloudflareExample(
  bindings: Record<string, string>,
  entry?: string,
): Promise<Miniflare> {
  const bundle = await bundleCloudflareExample(entry);
  const mf = new Miniflare({
    // The bundle is one module, given as it is: Miniflare's own walk of its imports refuses the dynamic import of
    // the optional tracing peer (a specifier in a variable, which bundlers leave alone), as wrangler's does not.
    modules: [{ type: 'ESModule', path: bundle.scriptPath, contents: bundle.code }],
    modulesRoot: bundle.dir,
    cf: false,
    compatibilityDate: bundle.compatibilityDate,
    compatibilityFlags: bundle.compatibilityFlags,
    bindings,
    durableObjects: { PUSHWORKER_REPLAY: 'ReplayGuard' },
    log: new Log(LogLevel.WARN),
  });
  await mf.ready;
  return mf;
}

async function deployToMiniflare(engine: EngineWiring): Promise<Deployment> {
  const mf = await runCloudflareExample(workerEnv(engine, HATCHET_NAMED));
  const entry = await mf.ready;
  return {
    mode: 'sync',
    url: entry.href.replace(/\/$/, ''),
    async call(c) {
      if (c.signal) return callResettable(entry, c, c.signal);
      const response = await mf.dispatchFetch(`http://worker.test${c.path}`, {
        method: c.method,
        headers: c.headers,
        ...(c.body === undefined ? {} : { body: c.body }),
      });
      return replyOf(response.status, response.headers as unknown as Headers, await response.text());
    },
    close: () => mf.dispose(),
  };
}

export const cloudflareMiniflare: TargetFactory = {
  name: 'cloudflare (workerd via miniflare)',
  deploy: deployToMiniflare,
  start() {
    return startOnSink(this.name, deployToMiniflare, { hatchet: HATCHET_NAMED, flushedOnReturn: false });
  },
};

/**
 * A call over a connection of its own to miniflare's HTTP server, reset (RST) when `signal` aborts.
 * workerd notices a reset connection at once and fires the request's `signal`; a graceful close (FIN)
 * goes unnoticed until it writes the answer. (`dispatchFetch` with a signal closes gracefully.)
 */
export function callResettable(entry: URL, c: HttpCall, signal: AbortSignal): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(c.path, entry),
      { method: c.method, headers: c.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const headers = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') headers.set(k, v);
          resolve(replyOf(res.statusCode ?? 0, headers, Buffer.concat(chunks).toString('utf8')));
        });
      },
    );
    req.on('error', reject);
    signal.addEventListener(
      'abort',
      () => {
        req.socket?.resetAndDestroy();
        req.destroy();
        reject(signal.reason);
      },
      { once: true },
    );
    req.end(c.body);
  });
}
