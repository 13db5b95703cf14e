// Loading an optional peer dependency: a missing install becomes one error that names the install command.
import { PushworkerError } from './protocol/errors.ts';

/**
 * Runs `load` (a dynamic import of `name`, or of a module that imports it) and turns "cannot find package
 * `name`" into a `missing_dependency` error saying what needs it and what to install.
 */
export async function importPeer<T>(name: string, neededBy: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
    const missing = code === 'ERR_MODULE_NOT_FOUND' && String(message).includes(`'${name}'`);
    if (!missing) throw error;
    throw new PushworkerError('missing_dependency', `${neededBy} needs ${name}: npm install ${name}`);
  }
}

/** `importPeer` once: the first call loads the package, and every call shares that promise. */
export function lazyPeer<T>(name: string, neededBy: string, load: () => Promise<T>): () => Promise<T> {
  let loaded: Promise<T> | undefined;
  return () => {
    loaded ??= importPeer(name, neededBy, load);
    return loaded;
  };
}
