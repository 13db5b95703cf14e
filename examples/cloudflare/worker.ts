// The example worker on Cloudflare Workers: the example tasks, configured by `PUSHWORKER_*` and `HATCHET_*` bindings.
import {
  type DurableObjectNamespace,
  durableObjectReplayStore,
  moduleWorker,
} from '../../adapters/cloudflare.ts';
import { tasks, workflows } from '../tasks.ts';

export { ReplayGuard } from '../../adapters/cloudflare.ts';

interface Env {
  [binding: string]: unknown;
  /** Optional: a `ReplayGuard` Durable Object, so that a replayed push is refused by every isolate. */
  PUSHWORKER_REPLAY?: DurableObjectNamespace;
}

export default moduleWorker<Env>({
  name: 'example-worker',
  tasks,
  workflows,
  replay: (env) => (env.PUSHWORKER_REPLAY ? durableObjectReplayStore(env.PUSHWORKER_REPLAY) : undefined),
});
