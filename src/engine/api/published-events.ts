// Event routes: publish one event or many (each enqueuing its listeners' runs), list and read published events.
import { Hono } from 'hono';
import {
  BulkPublishEventsRequest,
  type EventView,
  ListEventsQuery,
  PublishEventRequest,
} from '../../protocol/published-events.ts';
import type { EngineCore } from '../core.ts';
import { publish } from '../publish.ts';
import { type EventRecord, getEvent, listEvents, runStatesOf } from '../store/published-events.ts';
import type { SqlClient } from '../store/sql.ts';
import { workflowRunStatesOf } from '../store/workflow-runs.ts';
import { notFound, parseBody, parseQuery, requireApi, traceparentHeader } from './http.ts';

/** The events' views, each run with its state now (null once retention deleted it). */
async function eventViews(sql: SqlClient, events: EventRecord[]): Promise<EventView[]> {
  const states = await runStatesOf(
    sql,
    events.flatMap((e) => e.runs.map((r) => r.id)),
  );
  const workflowStates = await workflowRunStatesOf(
    sql,
    events.flatMap((e) => e.workflowRuns.map((r) => r.id)),
  );
  return events.map((e) => ({
    id: e.id,
    name: e.name,
    key: e.key,
    payload: e.payload,
    createdAt: new Date(e.createdAt).toISOString(),
    runs: e.runs.map((r) => ({ id: r.id, task: r.task, state: states.get(r.id) ?? null })),
    workflowRuns: e.workflowRuns.map((r) => ({ ...r, state: workflowStates.get(r.id) ?? null })),
  }));
}

export function eventRoutes(core: EngineCore): Hono {
  const app = new Hono();

  app.post('/v1/events/publish', async (c) => {
    const principal = await requireApi(core, c);
    const request = await parseBody(c, PublishEventRequest);
    const { event, created } = await publish(core, request, principal.tokenId, traceparentHeader(c));
    const [view] = await eventViews(core.sql, [event]);
    return c.json({ ...view!, created }, created ? 201 : 200);
  });

  app.post('/v1/events/publish/bulk', async (c) => {
    const principal = await requireApi(core, c);
    const request = await parseBody(c, BulkPublishEventsRequest);
    const traceparent = traceparentHeader(c);
    const published: Awaited<ReturnType<typeof publish>>[] = [];
    // In order, each its own transaction: an event a later one refuses stays published.
    for (const event of request.events) {
      published.push(await publish(core, event, principal.tokenId, traceparent));
    }
    const views = await eventViews(
      core.sql,
      published.map((p) => p.event),
    );
    return c.json({ events: views.map((v, i) => ({ ...v, created: published[i]!.created })) }, 201);
  });

  app.get('/v1/events', async (c) => {
    await requireApi(core, c);
    const query = parseQuery(c, ListEventsQuery);
    const events = await listEvents(core.sql, {
      name: query.name,
      key: query.key,
      limit: query.limit,
      beforeSeq: query.cursor === undefined ? undefined : Number(query.cursor),
    });
    const last = events.length === query.limit ? events[events.length - 1] : undefined;
    return c.json({ events: await eventViews(core.sql, events), nextCursor: last ? String(last.seq) : null });
  });

  app.get('/v1/events/:id', async (c) => {
    await requireApi(core, c);
    const event = await getEvent(core.sql, c.req.param('id'));
    if (!event) throw notFound('the event');
    const [view] = await eventViews(core.sql, [event]);
    return c.json(view);
  });

  return app;
}
