// Who may call each engine route: the one table that every API route's check reads, and that a test walks.
import { ApiScope } from '../../protocol/schemas.ts';

/** `public`: no token; `worker`: a worker token; a scope: an API token allowing at least that scope. */
export type RouteAccess = ApiScope | 'worker' | 'public';

/**
 * Keyed `METHOD path` as the app registers the route. On `cancel` and the retry of one run, a token below `admin`
 * acts only on runs it enqueued itself (`requireOwnRun`); the bulk retry selects any run, so it is `admin`. A
 * schedule enqueues runs for as long as it lives, which is more than `enqueue` allows, so changing one is `admin`.
 */
export const ROUTE_ACCESS = {
  'GET /health': 'public',
  'GET /.well-known/jwks.json': 'public',
  'GET /metrics': 'public',
  'GET /dashboard': 'public',
  'GET /dashboard/app.css': 'public',
  'GET /dashboard/app.js': 'public',

  'PUT /v1/workers': 'worker',
  'POST /v1/workers/:id/heartbeat': 'worker',
  'POST /v1/events': 'worker',
  'POST /v1/runs/:id/children': 'worker',

  'GET /v1/whoami': 'read',
  'GET /v1/runs': 'read',
  'GET /v1/runs/:id': 'read',
  'GET /v1/runs/:id/wait': 'read',
  'GET /v1/runs/:id/logs': 'read',
  'GET /v1/stats/tasks': 'read',
  'GET /v1/stats/runs': 'read',
  'GET /v1/stats/series': 'read',
  'GET /v1/workers': 'read',
  'GET /v1/rate-limits': 'read',
  'GET /v1/schedules': 'read',
  'GET /v1/schedules/:name': 'read',
  'GET /v1/events': 'read',
  'GET /v1/events/:id': 'read',
  'GET /v1/workflows': 'read',
  'GET /v1/workflow-runs': 'read',
  'GET /v1/workflow-runs/:id': 'read',
  'GET /v1/workflow-runs/:id/wait': 'read',

  'POST /v1/runs': 'enqueue',
  'POST /v1/runs/bulk': 'enqueue',
  'POST /v1/runs/:id/cancel': 'enqueue',
  'POST /v1/runs/:id/retry': 'enqueue',
  'POST /v1/events/publish': 'enqueue',
  'POST /v1/events/publish/bulk': 'enqueue',
  'POST /v1/workflow-runs': 'enqueue',
  'POST /v1/workflow-runs/:id/cancel': 'enqueue',
  'POST /v1/workflow-runs/:id/retry': 'enqueue',

  'POST /v1/runs/retry': 'admin',
  'POST /v1/workers/register': 'admin',
  'POST /v1/workers/:id/pause': 'admin',
  'POST /v1/workers/:id/resume': 'admin',
  'DELETE /v1/workers/:id': 'admin',
  'POST /v1/schedules': 'admin',
  'POST /v1/schedules/:name/pause': 'admin',
  'POST /v1/schedules/:name/resume': 'admin',
  'DELETE /v1/schedules/:name': 'admin',
  'POST /v1/tokens': 'admin',
  'DELETE /v1/tokens/:id': 'admin',
  'POST /v1/keys/rotate': 'admin',
  'PUT /v1/rate-limits/:key': 'admin',
} as const satisfies Record<string, RouteAccess>;

/**
 * The scope an API route needs. A route the table does not name as an API route needs `admin`, so that a route
 * added without an entry is closed to every lesser token rather than open to it.
 */
export function scopeOfRoute(method: string, path: string): ApiScope {
  const access = (ROUTE_ACCESS as Record<string, RouteAccess>)[
    `${method === 'HEAD' ? 'GET' : method} ${path}`
  ];
  const scope = ApiScope.safeParse(access);
  return scope.success ? scope.data : 'admin';
}
