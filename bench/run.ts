// `npm run bench`: runs every benchmark in turn (each prints its baseline and ratios); `npm run bench <part>`
// those whose file name has <part>. The other files here are the processes and modules the benchmarks share.
import { spawnSync } from 'node:child_process';

const STEPS = [
  'engine.ts',
  'flow-control.ts',
  'freed-places.ts',
  'outbound.ts',
  'peers.ts',
  'push.ts',
  'schedules.ts',
  'worker-cpu.ts',
];

const only = process.argv[2];
let failed = false;
for (const file of STEPS.filter((f) => !only || f.includes(only))) {
  console.log(`\n== ${file}`);
  const result = spawnSync(process.execPath, ['--import', 'tsx', new URL(file, import.meta.url).pathname], {
    stdio: 'inherit',
  });
  failed ||= result.status !== 0;
}
process.exit(failed ? 1 : 0);
