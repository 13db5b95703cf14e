// One statement under EXPLAIN (ANALYZE, BUFFERS, WAL): its buffers, the blocks it dirtied and wrote, its WAL, the
// indexes its plan read.
import type { SqlClient } from '../../src/engine/store/index.ts';

/** What one statement's plan read and wrote. The plan's counts: not its triggers' (an attempt's row, say). */
export interface Explained {
  label: string;
  /** Shared buffers hit and read, planning's included. */
  hit: number;
  read: number;
  /** Shared blocks the statement dirtied, and those it wrote out itself (to free a buffer: an eviction). */
  dirtied: number;
  written: number;
  walRecords: number;
  walBytes: number;
  walFpi: number;
  /** EXPLAIN's execution time: with per-node timing unless PLANS_TIMING is set (then none, and not shown). */
  ms: number;
  indexes: string[];
  plan: string;
}

type Node = Record<string, unknown>;

/** A statement's first characters, its whitespace made single spaces: enough to tell it. */
export function labelOf(text: string): string {
  return text.replace(/\s+/g, ' ').slice(0, 90);
}

function walk(node: Node, visit: (n: Node) => void): void {
  visit(node);
  for (const child of (node.Plans as Node[] | undefined) ?? []) walk(child, visit);
}

const COUNTS = {
  hit: 'Shared Hit Blocks',
  read: 'Shared Read Blocks',
  dirtied: 'Shared Dirtied Blocks',
  written: 'Shared Written Blocks',
  walRecords: 'WAL Records',
  walBytes: 'WAL Bytes',
  walFpi: 'WAL FPI',
} as const;
type Counts = Record<keyof typeof COUNTS, number>;

function countsOf(node: Node): Counts {
  const out = {} as Counts;
  for (const [key, name] of Object.entries(COUNTS)) out[key as keyof Counts] = Number(node[name] ?? 0);
  return out;
}

/**
 * The counts of the whole plan: its top node's, which include its children's, and those of each data-modifying
 * CTE that no CTE Scan reads (it runs after the top node has finished, so they are not in the top's).
 */
function planCounts(top: Node): Counts {
  const total = countsOf(top);
  const scanned = new Set<string>();
  const ctes: Node[] = [];
  walk(top, (n) => {
    if (n['Node Type'] === 'CTE Scan') scanned.add(n['CTE Name'] as string);
    const sub = n['Subplan Name'];
    if (n['Parent Relationship'] === 'InitPlan' && typeof sub === 'string' && sub.startsWith('CTE '))
      ctes.push(n);
  });
  for (const cte of ctes) {
    if (scanned.has((cte['Subplan Name'] as string).slice(4))) continue;
    const c = countsOf(cte);
    for (const key of Object.keys(total) as (keyof Counts)[]) total[key] += c[key];
  }
  return total;
}

/** Runs `text` under EXPLAIN ANALYZE in `tx`: the caller rolls it back. `timing` false leaves out per-node timing. */
export async function explain(
  tx: SqlClient,
  text: string,
  params: unknown[] | undefined,
  timing: boolean,
): Promise<Explained> {
  const options = `ANALYZE, BUFFERS, WAL, ${timing ? '' : 'TIMING OFF, '}FORMAT JSON`;
  const rows = await tx.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (${options}) ${text}`, params);
  const raw = rows[0]!['QUERY PLAN'];
  const [doc] = (typeof raw === 'string' ? JSON.parse(raw) : raw) as Node[];
  const plan = doc!.Plan as Node;
  const planning = countsOf((doc!.Planning ?? {}) as Node);
  const counts = planCounts(plan);
  const indexes = new Set<string>();
  walk(plan, (n) => {
    if (typeof n['Index Name'] === 'string') indexes.add(n['Index Name']);
    if (n['Node Type'] === 'Seq Scan') indexes.add(`SEQ ${n['Relation Name']}`);
  });
  return {
    label: labelOf(text),
    ...counts,
    hit: counts.hit + planning.hit,
    read: counts.read + planning.read,
    ms: doc!['Execution Time'] as number,
    indexes: [...indexes],
    plan: JSON.stringify(plan),
  };
}
