// The DAG each workflow name stands for, read at every workflow enqueue: kept a second, and forgotten as soon as
// any worker registers or changes, here or (through the signals' relay) on another replica.
import type { WorkflowManifest } from '../../protocol/workflow-manifest.ts';
import type { Signals } from '../signals.ts';
import type { SqlClient } from '../store/sql.ts';
import { findWorkflow } from '../store/workflow-runs.ts';

const FRESH_MS = 1_000;

export class WorkflowDefinitions {
  private cache = new Map<string, { at: number; definition: WorkflowManifest }>();

  constructor(
    private readonly sql: SqlClient,
    signals: Signals,
  ) {
    signals.onWorkersChanged(() => this.cache.clear());
  }

  /** Undefined when no worker declares it; that answer is not kept, so a worker that registers is seen at once. */
  async of(name: string, now = Date.now()): Promise<WorkflowManifest | undefined> {
    const kept = this.cache.get(name);
    if (kept && kept.at >= now - FRESH_MS) return kept.definition;
    const definition = await findWorkflow(this.sql, name);
    if (definition) this.cache.set(name, { at: now, definition });
    else this.cache.delete(name);
    return definition;
  }
}
