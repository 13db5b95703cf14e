// A test engine's signing side: builds and sends signed pushes to a worker endpoint.
import { generateSigningKey, type SigningKey, signPush } from '../../src/auth/index.ts';
import { SIGNATURE_HEADER } from '../../src/protocol/schemas.ts';

export interface Pusher {
  signing: SigningKey;
  jwks: { keys: Record<string, unknown>[] };
  /** Signs `body` for `audience`; `over` changes the claims or key for failure cases. */
  sign(body: string, over?: Partial<Parameters<typeof signPush>[0]>): Promise<string>;
  /** POSTs a signed body (or GETs when `body` is undefined) and returns status and parsed JSON. */
  send(
    url: string,
    body: string | undefined,
    over?: Partial<Parameters<typeof signPush>[0]> & { headers?: Record<string, string> },
  ): Promise<{ status: number; json: any; headers: Headers }>;
}

export async function createPusher(audience: string): Promise<Pusher> {
  const key = await generateSigningKey('EdDSA', 'test-key');
  const pusher: Pusher = {
    signing: key.signing,
    jwks: { keys: [key.publicJwk as Record<string, unknown>] },
    sign: (body, over = {}) => signPush({ key: key.signing, issuer: 'test-engine', audience, body, ...over }),
    async send(url, body, over = {}) {
      const { headers: extra, ...claims } = over;
      const signature = await pusher.sign(body ?? '', claims);
      const response = await fetch(url, {
        method: body === undefined ? 'GET' : 'POST',
        headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signature, ...extra },
        ...(body === undefined ? {} : { body }),
      });
      const text = await response.text();
      return {
        status: response.status,
        json: text ? JSON.parse(text) : undefined,
        headers: response.headers,
      };
    },
  };
  return pusher;
}

let counter = 0;
export function assignment(task: string, input: unknown, extra: Record<string, unknown> = {}) {
  counter++;
  return { runId: `run-${process.pid}-${counter}`, attempt: 1, task, input, ...extra };
}

export const batch = (...assignments: unknown[]) => JSON.stringify({ v: 1, assignments });
