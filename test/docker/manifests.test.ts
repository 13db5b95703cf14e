// The deployment files that cannot run here: every Kubernetes and KEDA document is valid against its schema, the
// compose file against Compose's own check where docker-compose is installed, and every setting they name exists.
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ScaledObject, TriggerAuthentication } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { Service } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { tasks, workflows } from '../../examples/tasks.ts';
import { ENGINE_ENV_NAMES } from '../../src/engine/config.ts';
import { TaskStatsQuery, TaskStatsTotal } from '../../src/protocol/api.ts';
import { WORKER_ENV_NAMES } from '../../src/worker/config.ts';

const exec = promisify(execFile);
const KUBERNETES = 'deploy/kubernetes';

type Doc = { kind: string; metadata: { name: string }; spec: Record<string, any> };
const documents: Doc[] = readdirSync(KUBERNETES)
  .filter((f) => f.endsWith('.yaml'))
  .flatMap((f) => parseAllDocuments(readFileSync(join(KUBERNETES, f), 'utf8')).map((d) => d.toJS() as Doc));
const models: Record<string, new (doc: any) => { validate(): void }> = {
  Deployment,
  Service,
  ScaledObject,
  TriggerAuthentication,
};
const deployment = (name: string) =>
  documents.find((d) => d.kind === 'Deployment' && d.metadata.name === name)!;
const containerOf = (name: string) => deployment(name).spec.template.spec.containers[0];
const envOf = (name: string): Record<string, string | undefined> =>
  Object.fromEntries(containerOf(name).env.map((e: { name: string; value?: string }) => [e.name, e.value]));
/** Names a process sets or reads for itself, not settings: the listen address, and the pod's own. */
const PROCESS_NAMES = ['PORT', 'HOST', 'POD_IP'];

describe('the Kubernetes and KEDA files', () => {
  it('are documents of known kinds, each valid against its schema', () => {
    expect(documents.map((d) => d.kind).sort()).toEqual([
      'Deployment',
      'Deployment',
      'ScaledObject',
      'Service',
      'TriggerAuthentication',
    ]);
    for (const doc of documents) expect(() => new models[doc.kind]!(doc).validate(), doc.kind).not.toThrow();
  });

  it('a broken document fails the same check', () => {
    const broken = structuredClone(deployment('pushworker-worker'));
    broken.spec.replicas = 'one';
    expect(() => new Deployment(broken as never).validate()).toThrow();
  });

  it('name only settings the engine and the worker read', () => {
    for (const name of Object.keys(envOf('pushworker-engine')))
      expect([...ENGINE_ENV_NAMES, ...PROCESS_NAMES], name).toContain(name);
    for (const name of Object.keys(envOf('pushworker-worker')))
      expect([...WORKER_ENV_NAMES, ...PROCESS_NAMES], name).toContain(name);
  });

  it("give a worker more time to stop than its drain, and run as the images' user", () => {
    const grace = deployment('pushworker-worker').spec.template.spec.terminationGracePeriodSeconds * 1000;
    expect(grace).toBeGreaterThan(Number(envOf('pushworker-worker').PUSHWORKER_SHUTDOWN_GRACE_MS));
    const uid = /--uid (\d+)/.exec(readFileSync('Dockerfile', 'utf8'))?.[1];
    for (const name of ['pushworker-engine', 'pushworker-worker']) {
      expect(String(deployment(name).spec.template.spec.securityContext.runAsUser)).toBe(uid);
      expect(containerOf(name).readinessProbe.httpGet.path).toBe('/health');
      expect(containerOf(name).livenessProbe.httpGet.path).toBe('/health');
    }
  });

  it('scale the workers on the ready runs of every task the example worker serves, summed', () => {
    const scaled = documents.find((d) => d.kind === 'ScaledObject')!;
    expect(scaled.spec.scaleTargetRef.name).toBe('pushworker-worker');
    const served = [...tasks, ...workflows.flatMap((w) => w.tasks)].map((t) => t.name).sort();
    const [trigger, ...others] = scaled.spec.triggers;
    expect(others).toEqual([]);
    expect(trigger.type).toBe('metrics-api');
    const url = new URL(trigger.metadata.url);
    expect(url.pathname).toBe('/v1/stats/tasks');
    const query = TaskStatsQuery.parse(Object.fromEntries(url.searchParams));
    expect([...(query.task ?? [])].sort()).toEqual(served);
    const [, field] = /^total\.(\w+)$/.exec(trigger.metadata.valueLocation) ?? [];
    expect(Object.keys(TaskStatsTotal.shape)).toContain(field);
  });
});

describe('the compose file', () => {
  const compose = parse(readFileSync('deploy/compose.yaml', 'utf8')) as {
    services: Record<string, { environment?: Record<string, string>; build?: { target: string } }>;
  };

  it('builds the two images of the Dockerfile and names only settings they read', () => {
    const targets = [...readFileSync('Dockerfile', 'utf8').matchAll(/^FROM \S+ AS (\S+)$/gm)].map(
      (m) => m[1],
    );
    expect(targets).toContain(compose.services.engine!.build!.target);
    expect(targets).toContain(compose.services.worker!.build!.target);
    for (const name of Object.keys(compose.services.engine!.environment!))
      expect(ENGINE_ENV_NAMES).toContain(name);
    for (const name of Object.keys(compose.services.worker!.environment!))
      expect([...WORKER_ENV_NAMES, 'PUSHWORKER_API_TOKEN']).toContain(name);
  });

  it('passes Compose’s own check', async (ctx) => {
    const found = await exec('docker-compose', ['version']).catch(() => undefined);
    if (!found) ctx.skip('docker-compose is not installed here (.ci/docker.sh installs it)');
    const env = { ...process.env, PUSHWORKER_API_TOKEN: 'pwa_compose-check-token-0123456789' };
    const { stdout } = await exec('docker-compose', ['-f', 'deploy/compose.yaml', 'config'], { env });
    expect(parse(stdout).services.engine.environment.PUSHWORKER_API_TOKEN).toBe(env.PUSHWORKER_API_TOKEN);
    await expect(
      exec('docker-compose', ['-f', 'deploy/compose.yaml', 'config'], {
        env: { ...process.env, PUSHWORKER_API_TOKEN: '' },
      }),
    ).rejects.toThrow(/set PUSHWORKER_API_TOKEN/);
  });
});
