// `npm run bench`: runs every benchmark in turn (each prints its baseline and ratios).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';

const only = process.argv[2];
const files = readdirSync(new URL('.', import.meta.url)).filter(
  (f) => f.endsWith('.ts') && f !== 'run.ts' && !f.endsWith('-server.ts') && (!only || f.includes(only)),
);
let failed = false;
for (const file of files) {
  console.log(`\n== ${file}`);
  const result = spawnSync(process.execPath, ['--import', 'tsx', new URL(file, import.meta.url).pathname], {
    stdio: 'inherit',
  });
  failed ||= result.status !== 0;
}
process.exit(failed ? 1 : 0);
