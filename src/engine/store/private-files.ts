// A directory tree for the owner alone: the embedded store's files hold private keys and token hashes.
import { chmodSync, lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** Directories 0700, files 0600, from `root` down; symbolic links are left alone. */
export function makePrivate(root: string): void {
  const stat = lstatSync(root);
  if (stat.isSymbolicLink()) return;
  if (stat.isDirectory()) {
    if ((stat.mode & 0o777) !== 0o700) chmodSync(root, 0o700);
    for (const name of readdirSync(root)) makePrivate(join(root, name));
  } else if ((stat.mode & 0o777) !== 0o600) chmodSync(root, 0o600);
}
