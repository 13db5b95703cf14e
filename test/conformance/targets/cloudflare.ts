// The Cloudflare example as deployed: bundled by wrangler, then run inside workerd through miniflare.
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Log, LogLevel, Miniflare } from 'miniflare';
import { createPusher } from '../../support/push.ts';
import { startSink } from '../../support/sink.ts';
import { replyOf, type Target, type TargetFactory, WORKER_NAME, workerEnv } from './target.ts';

const root = new URL('../../../', import.meta.url).pathname;

export interface Bundle {
  dir: string;
  scriptPath: string;
  code: string;
  compatibilityDate: string;
}

let bundling: Promise<Bundle> | undefined;

/** `wrangler deploy --dry-run` on the top-level wrangler.toml, once per test run (no network needed). */
export function bundleCloudflareExample(): Promise<Bundle> {
  bundling ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pushworker-cf-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    await promisify(execFile)(
      join(root, 'node_modules/.bin/wrangler'),
      ['deploy', '--dry-run', '--outdir', dir],
      { cwd: root, env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: '1' } },
    );
    const script = (await readdir(dir)).find((f) => f.endsWith('.js'));
    if (!script) throw new Error(`wrangler produced no bundle in ${dir}`);
    const toml = await readFile(join(root, 'wrangler.toml'), 'utf8');
    const compatibilityDate = /^compatibility_date\s*=\s*"([^"]+)"/m.exec(toml)?.[1];
    if (!compatibilityDate) throw new Error('wrangler.toml has no compatibility_date');
    const scriptPath = join(dir, script);
    return { dir, scriptPath, code: await readFile(scriptPath, 'utf8'), compatibilityDate };
  })();
  return bundling;
}

export const cloudflareMiniflare: TargetFactory = {
  name: 'cloudflare (workerd via miniflare)',
  async start(): Promise<Target> {
    const bundle = await bundleCloudflareExample();
    const sink = await startSink();
    const pusher = await createPusher(WORKER_NAME);
    const mf = new Miniflare({
      modules: true,
      scriptPath: bundle.scriptPath,
      modulesRoot: bundle.dir,
      cf: false,
      compatibilityDate: bundle.compatibilityDate,
      bindings: workerEnv(sink, pusher),
      durableObjects: { PUSHWORKER_REPLAY: 'ReplayGuard' },
      log: new Log(LogLevel.WARN),
    });
    await mf.ready;
    return {
      name: this.name,
      mode: 'sync',
      sink,
      pusher,
      flushedOnReturn: false,
      async call(c) {
        const response = await mf.dispatchFetch(`http://worker.test${c.path}`, {
          method: c.method,
          headers: c.headers,
          ...(c.body === undefined ? {} : { body: c.body }),
        });
        return replyOf(response.status, response.headers as unknown as Headers, await response.text());
      },
      async close() {
        await mf.dispose();
        await sink.close();
      },
    };
  },
};
