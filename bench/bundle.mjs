// Bundles a benchmark's TypeScript entry with esbuild into a cache file, again whenever a source is newer, so that
// it runs on plain Node without a TypeScript loader thread, as the compiled package does.
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

const newest = (dir) =>
  readdirSync(dir, { withFileTypes: true }).reduce((t, e) => {
    const path = join(dir, e.name);
    return Math.max(t, e.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }, 0);

const mtime = (path) => {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
};

/**
 * Every module keeps its own `import.meta.url`, so paths next to a source file still resolve from the bundle. A
 * package source's URL is that of its compiled file under `dist/` (`npm run build`), where the files it loads
 * beside itself (the database thread) are compiled JavaScript too.
 */
const packageSource = new RegExp(`^${join(root, '(src|adapters)/').replaceAll('/', '\\/')}(.*)\\.ts$`);
const ownUrls = {
  name: 'own-urls',
  setup(build) {
    build.onLoad({ filter: /\.ts$/ }, (args) => {
      const compiled = args.path.replace(packageSource, (_, dir, rest) =>
        join(root, 'dist', dir, `${rest}.js`),
      );
      return {
        contents: readFileSync(args.path, 'utf8').replaceAll(
          'import.meta.url',
          JSON.stringify(pathToFileURL(compiled).href),
        ),
        loader: 'ts',
      };
    });
  },
};

/**
 * The bundle of `entry` (a path from the package root) as a file URL, built when missing or older than a source
 * under `src/`, `adapters/` or `watch`; undefined when it cannot be built or written here.
 */
export async function bundled(entry, name, watch = []) {
  const out = join(root, 'node_modules', '.cache', 'pushworker', `${name}.mjs`);
  const dirs = ['src', 'adapters', ...watch].map((d) => newest(join(root, d)));
  if (mtime(out) > Math.max(...dirs, mtime(join(root, 'package.json')))) return pathToFileURL(out).href;
  try {
    const { build } = await import('esbuild');
    const result = await build({
      entryPoints: [join(root, entry)],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      write: false,
      logLevel: 'silent',
      plugins: [ownUrls],
    });
    // Written aside and renamed, so that processes started together never read half a bundle.
    mkdirSync(join(out, '..'), { recursive: true });
    const temporary = `${out}.${process.pid}`;
    writeFileSync(temporary, result.outputFiles[0].contents);
    renameSync(temporary, out);
    return pathToFileURL(out).href;
  } catch {
    return undefined;
  }
}
