// The engine process of the outbound benchmark: an in-memory engine on loopback that reports its peak RSS.
import { createEngine, serveEngine } from '../src/engine/index.ts';
import { tuneForEmbeddedStore } from '../src/engine/store/pglite.ts';

// As the engine command runs it.
tuneForEmbeddedStore();

const engine = await createEngine({
  ...(JSON.parse(process.env.BENCH_ENGINE ?? '{}') as Record<string, unknown>),
  onError: () => {},
  onNotice: () => {},
});
const served = await serveEngine(engine, { port: 0, hostname: '127.0.0.1' });

let peak = process.memoryUsage.rss();
const sampler = setInterval(() => {
  peak = Math.max(peak, process.memoryUsage.rss());
}, 20);

process.on('message', async (m: { type: string }) => {
  if (m.type === 'reset') {
    globalThis.gc?.();
    peak = process.memoryUsage.rss();
    process.send?.({ rss: peak });
  } else if (m.type === 'peak') {
    process.send?.({ rss: Math.max(peak, process.memoryUsage.rss()) });
  } else if (m.type === 'stop') {
    clearInterval(sampler);
    await served.close();
    process.exit(0);
  }
});
process.send?.({ url: served.url });
