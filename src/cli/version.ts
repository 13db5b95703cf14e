// The package's own version, for `pushworker --version`: read from the package.json above this file.
import { existsSync, readFileSync } from 'node:fs';

/** The nearest `package.json` named pushworker above this module (the sources and `dist/` sit at different depths). */
export function packageVersion(): string {
  for (let dir = new URL('.', import.meta.url); dir.pathname !== '/'; dir = new URL('..', dir)) {
    const file = new URL('package.json', dir);
    if (!existsSync(file)) continue;
    const manifest = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
    if (manifest.name === 'pushworker' && manifest.version) return manifest.version;
  }
  return 'unknown';
}
