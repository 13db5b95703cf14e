// Lambda invocations shaped as AWS documents them: REST (v1), HTTP API (v2), Function URL and ALB events.
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import type { HttpCall } from './target.ts';

const fixture = createRequire(import.meta.url);

export type Trigger = 'rest-v1' | 'http-v2' | 'function-url' | 'alb';

const FIXTURES: Record<Trigger, string> = {
  'rest-v1': '../fixtures/apigateway-rest-v1.json',
  'http-v2': '../fixtures/apigateway-http-v2.json',
  'function-url': '../fixtures/function-url.json',
  alb: '../fixtures/alb.json',
};

/** One event for `call`; `base64` encodes the body as a trigger does for binary media types. */
export function lambdaEvent(trigger: Trigger, call: HttpCall, { base64 = false } = {}): any {
  const event = structuredClone(fixture(FIXTURES[trigger]));
  const body = call.body === undefined ? undefined : base64 ? btoa(utf8Binary(call.body)) : call.body;
  const headers: Record<string, string> = { ...call.headers };
  if (call.body !== undefined) headers['content-length'] = String(new TextEncoder().encode(call.body).length);
  switch (trigger) {
    case 'rest-v1': {
      event.httpMethod = call.method;
      event.path = call.path;
      event.resource = call.path === '/' ? '/' : '/{proxy+}';
      event.pathParameters = call.path === '/' ? null : { proxy: call.path.slice(1) };
      event.requestContext.httpMethod = call.method;
      event.requestContext.path = `/${event.requestContext.stage}${call.path}`;
      event.requestContext.resourcePath = event.resource;
      event.requestContext.requestId = randomUUID();
      Object.assign(event.headers, headers);
      for (const [k, v] of Object.entries(headers)) event.multiValueHeaders[k] = [v];
      event.body = body ?? null;
      break;
    }
    case 'http-v2':
    case 'function-url': {
      event.rawPath = call.path;
      event.requestContext.http.method = call.method;
      event.requestContext.http.path = call.path;
      event.requestContext.requestId = randomUUID();
      for (const [k, v] of Object.entries(headers)) event.headers[k.toLowerCase()] = v;
      if (body !== undefined) event.body = body;
      break;
    }
    case 'alb': {
      event.httpMethod = call.method;
      event.path = call.path;
      for (const [k, v] of Object.entries(headers)) event.headers[k.toLowerCase()] = v;
      event.body = body ?? '';
      break;
    }
  }
  event.isBase64Encoded = base64 && body !== undefined;
  return event;
}

/** The Lambda Node runtime's context object. */
export function lambdaContext(timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: 'pushworker-example',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:pushworker-example',
    memoryLimitInMB: '512',
    awsRequestId: randomUUID(),
    logGroupName: '/aws/lambda/pushworker-example',
    logStreamName: '2026/04/26/[$LATEST]0123456789abcdef0123456789abcdef',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
}

/** The HTTP response a trigger makes of a handler's result. */
export function responseOf(result: any): { status: number; headers: Headers; text: string } {
  const headers = new Headers();
  for (const [k, v] of Object.entries(result.headers ?? {})) headers.set(k, String(v));
  for (const [k, vs] of Object.entries(result.multiValueHeaders ?? {}))
    for (const v of vs as string[]) headers.append(k, v);
  const text = result.isBase64Encoded ? Buffer.from(result.body, 'base64').toString('utf8') : result.body;
  return { status: result.statusCode, headers, text: text ?? '' };
}

function utf8Binary(text: string): string {
  return Array.from(new TextEncoder().encode(text), (b) => String.fromCharCode(b)).join('');
}
