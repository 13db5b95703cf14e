// Builds requests exactly as Hatchet's HTTP operator sends them: protobuf-JSON AssignedAction, HMAC-SHA256 hex signature.
import { createHmac, randomUUID } from 'node:crypto';

export const HATCHET_SECRET = 'hatchet-signing-secret-at-least-32-chars';

/** The protobuf-JSON form of an `AssignedAction` (lowerCamelCase, enum by name, default values omitted). */
export function assignedAction(
  workflow: string,
  task: string,
  input: unknown,
  extra: Record<string, unknown> = {},
) {
  return {
    tenantId: '707d0855-80ab-4e1f-a156-f1c4546cbf52',
    workflowRunId: randomUUID(),
    getGroupKeyRunId: '',
    jobId: randomUUID(),
    jobName: task,
    jobRunId: randomUUID(),
    taskId: randomUUID(),
    taskRunExternalId: randomUUID(),
    actionId: `${workflow}:${task.toLowerCase()}`,
    actionType: 'START_STEP_RUN',
    actionPayload: JSON.stringify({ input, parents: {}, overrides: {}, triggers: {} }),
    taskName: task,
    additionalMetadata: JSON.stringify({ source: 'contract-test' }),
    priority: 1,
    workflowId: randomUUID(),
    workflowVersionId: randomUUID(),
    ...extra,
  };
}

export function hatchetHeaders(body: string, options: { secret?: string; timestamp?: number } = {}) {
  const signature = createHmac('sha256', options.secret ?? HATCHET_SECRET)
    .update(body)
    .digest('hex');
  return {
    'content-type': 'application/json',
    'x-hatchet-signature': signature,
    'x-hatchet-endpoint-id': 'endpoint-1',
    ...(options.timestamp === undefined ? {} : { 'x-hatchet-timestamp': String(options.timestamp) }),
  };
}

export async function hatchetPost(
  url: string,
  body: string,
  options: {
    secret?: string;
    timestamp?: number;
    signal?: AbortSignal;
    headers?: Record<string, string>;
  } = {},
): Promise<{ status: number; json: any }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { ...hatchetHeaders(body, options), ...options.headers },
    body,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : undefined };
}
