// The database thread's file modes: what PGlite creates in the data directory is for the engine's user alone.
import fs from 'node:fs';

/**
 * The store holds private signing keys and token hashes. PGlite's file system layer creates its files 0666 and
 * its directories 0777, whatever the umask, and a worker thread may not set the process's umask; the thread
 * runs PGlite alone, so its calls that give a mode are given one without group and other bits (0600, 0700).
 * The data directory itself is 0700 as well, which alone keeps other users out.
 */
const PRIVATE = 0o700;

type Mode = fs.Mode | null | undefined;
const narrowed = (mode: Mode, fallback: number): fs.Mode =>
  typeof mode === 'number' ? mode & PRIVATE : (mode ?? fallback);

const { writeFileSync, mkdirSync, chmodSync, fchmodSync, openSync } = fs;

fs.writeFileSync = ((file, data, options) =>
  writeFileSync(
    file,
    data,
    options && typeof options === 'object' ? { ...options, mode: narrowed(options.mode, 0o600) } : options,
  )) as typeof fs.writeFileSync;
fs.mkdirSync = ((path, options) =>
  mkdirSync(
    path,
    typeof options === 'object' && options
      ? { ...options, mode: narrowed(options.mode, PRIVATE) }
      : narrowed(options, PRIVATE),
  )) as typeof fs.mkdirSync;
fs.chmodSync = (path, mode) => chmodSync(path, narrowed(mode, 0o600));
fs.fchmodSync = (fd, mode) => fchmodSync(fd, narrowed(mode, 0o600));
fs.openSync = ((path, flags, mode) => openSync(path, flags, narrowed(mode, 0o600))) as typeof fs.openSync;
