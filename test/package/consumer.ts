// A user's project outside the repository: the packed tarball and the packages they would add, from the registry.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));

export interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(command: string, args: string[], cwd: string, timeoutMs = 240_000): Promise<Output> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { cwd, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, NODE_OPTIONS: '' } },
      (error, stdout, stderr) =>
        resolve({ code: error ? Number((error as { code?: unknown }).code ?? 1) || 1 : 0, stdout, stderr }),
    );
  });
}

/** The version this repository is tested with, so that installs come from the same release (and npm's cache). */
export function versionOf(name: string): string {
  return JSON.parse(readFileSync(join(REPO, 'node_modules', name, 'package.json'), 'utf8')).version;
}

let packed: Promise<string> | undefined;

/**
 * `npm pack` of the repository as built by `npm run build` (which `npm test` runs first); the tarball is what
 * `npm publish` would upload. Scripts are skipped so that packing does not rebuild `dist/` under other tests.
 */
export function tarball(): Promise<string> {
  packed ??= (async () => {
    const into = mkdtempSync(join(tmpdir(), 'pushworker-pack-'));
    const out = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', into], REPO);
    if (out.code !== 0) throw new Error(`npm pack failed: ${out.stderr}`);
    const [{ filename }] = JSON.parse(out.stdout) as [{ filename: string }];
    return join(into, filename);
  })();
  return packed;
}

/** A new project in the system's temp folder (never under the repository), with `files` written into it. */
export async function consumerProject(
  name: string,
  packages: string[],
  files: Record<string, string>,
  type: 'module' | 'commonjs' = 'module',
): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), `pushworker-${name}-`));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `consumer-${name}`, private: true, type }));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  const install = await run(
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--prefer-offline',
      '--loglevel=error',
      await tarball(),
      ...packages,
    ],
    dir,
  );
  if (install.code !== 0) throw new Error(`npm install in ${dir} failed: ${install.stderr}`);
  return dir;
}
