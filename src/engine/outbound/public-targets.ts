// Keeping worker URLs off private addresses: checked when a URL is registered (its name resolved with node:dns)
// and again on every connection (a lookup that drops private addresses), so that a name re-pointed after
// registration (DNS rebinding) cannot lead a push to loopback or the metadata service.
import { type LookupAddress, type LookupOptions, lookup } from 'node:dns';
import { lookup as lookupAll } from 'node:dns/promises';
import { isIP, type LookupFunction } from 'node:net';
import type { buildConnector } from 'undici';
import { PushworkerError } from '../../protocol/errors.ts';
import { PrivateTarget } from './failures.ts';
import { isPrivateAddress } from './private-addresses.ts';

/** The host of a URL as the resolver takes it: IPv6 literals without their brackets. */
function hostOf(url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
}

/** How a registration resolves a worker URL's name: a deadline (the resolver's own retries can take far longer). */
export interface TargetResolver {
  timeoutMs: number;
  /** All the name's addresses (node:dns by default). */
  lookup?: (host: string, options: { all: true; verbatim: true }) => Promise<LookupAddress[]>;
}

const allAddresses: NonNullable<TargetResolver['lookup']> = (host, options) => lookupAll(host, options);

/** `promise`, or `invalid_request` with `what` once `ms` have passed (the lookup itself runs on, unawaited). */
async function withinDeadline<T>(promise: Promise<T>, deadline: { ms: number; what: string }): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new PushworkerError('invalid_request', deadline.what)), deadline.ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Refuses a worker URL the engine should not push to: not http(s) (`invalid_request`), or a host that is or
 * resolves to any private address (`forbidden_target`), unless `allowPrivate`. A name that does not resolve, or
 * not within `resolve.timeoutMs`, is `invalid_request`.
 */
export async function checkTarget(
  target: string,
  allowPrivate: boolean,
  resolve: TargetResolver = { timeoutMs: 10_000 },
): Promise<void> {
  const url = new URL(target);
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new PushworkerError('invalid_request', `a worker URL must be http or https, not ${url.protocol}`);
  if (allowPrivate) return;
  const host = hostOf(url);
  let addresses: LookupAddress[];
  if (isIP(host)) addresses = [{ address: host, family: isIP(host) }];
  else {
    try {
      addresses = await withinDeadline(
        (resolve.lookup ?? allAddresses)(host, { all: true, verbatim: true }),
        {
          ms: resolve.timeoutMs,
          what: `the worker URL's host ${host} did not resolve within ${resolve.timeoutMs} ms`,
        },
      );
    } catch (error) {
      if (error instanceof PushworkerError) throw error;
      const code = (error as { code?: string }).code ?? String(error);
      throw new PushworkerError(
        'invalid_request',
        `the worker URL's host ${host} does not resolve (${code})`,
      );
    }
  }
  const refused = addresses.find((a) => isPrivateAddress(a.address));
  if (refused) {
    const reason = new PrivateTarget(host, refused.address).message;
    throw new PushworkerError('forbidden_target', `the worker URL ${target} is refused: ${reason}`);
  }
}

/** `dns.lookup` for sockets, keeping only public addresses; none left fails the connection with `PrivateTarget`. */
export const publicOnlyLookup: LookupFunction = (hostname, options, callback) => {
  lookup(hostname, { ...(options as LookupOptions), all: true }, (error, addresses) => {
    if (error) return callback(error, '');
    const open = addresses.filter((a) => !isPrivateAddress(a.address));
    if (open.length === 0)
      return callback(new PrivateTarget(hostname, addresses[0]?.address ?? hostname), '');
    if ((options as LookupOptions).all) return callback(null, open);
    callback(null, open[0]!.address, open[0]!.family);
  });
};

/**
 * An undici connector that refuses private addresses: IP literals here (Node connects to them without a
 * lookup), names through `publicOnlyLookup`.
 */
export function publicOnlyConnector(build: typeof buildConnector): buildConnector.connector {
  const connect = build({ lookup: publicOnlyLookup });
  return (options, callback) => {
    if (isIP(options.hostname) && isPrivateAddress(options.hostname))
      return callback(new PrivateTarget(options.hostname, options.hostname), null);
    return connect(options, callback);
  };
}
