// How `dev` and the demo start a worker file: plain Node for JavaScript, tsx for TypeScript, watched or not.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { PushworkerError } from '../protocol/errors.ts';

const TYPESCRIPT = /\.(c|m)?tsx?$/;

/** The worker the package ships: the example tasks, compiled beside the CLI (TypeScript in the repository). */
export function exampleWorkerFile(): string {
  const extension = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
  return fileURLToPath(new URL(`../../examples/node/worker.${extension}`, import.meta.url));
}

/** The arguments after Node's own path that run `file`, restarted on change when `watch` is set. */
export function workerProcessArgs(file: string, watch: boolean): string[] {
  if (!TYPESCRIPT.test(file)) return [...(watch ? ['--watch'] : []), file];
  return [tsxCli(file), ...(watch ? ['watch', '--clear-screen=false'] : []), file];
}

/** tsx is needed only to run a TypeScript worker file; it is looked up from the user's project first. */
function tsxCli(file: string): string {
  for (const from of [`${process.cwd()}/`, import.meta.url]) {
    try {
      return createRequire(from).resolve('tsx/cli');
    } catch {
      // not installed there
    }
  }
  throw new PushworkerError(
    'missing_dependency',
    `running the TypeScript file ${file} needs tsx: npm install --save-dev tsx (or pass a JavaScript file)`,
  );
}
