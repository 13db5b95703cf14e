// The soak engine process: createEngine on a PGlite directory or Postgres, served on port 0 (its listen line says
// which port it took), audited.
import { createEngine, serveEngine } from '../src/engine/index.ts';
import { installAudit } from './audit.ts';

const config = JSON.parse(process.env.SOAK_ENGINE ?? '{}') as Record<string, unknown>;
const engine = await createEngine({
  ...config,
  onError: (error) => console.error('engine background error:', (error as Error)?.message ?? error),
});
await installAudit(engine.sql);
const served = await serveEngine(engine, { port: 0, hostname: '127.0.0.1' });
// serveEngine has started the engine, its cron loop too: the soak takes this moment as the end of a downtime.
console.log(`soak engine listening on ${served.url} at=${Date.now()}`);

let closing = false;
process.on('SIGTERM', () => {
  if (closing) return;
  closing = true;
  served.close().then(
    () => process.exit(0),
    (error) => {
      console.error('engine stop failed:', error);
      process.exit(1);
    },
  );
});
