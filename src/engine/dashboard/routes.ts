// The live dashboard: one static page and its script, which read the engine's own API with the token given.
import { Hono } from 'hono';
import { dashboardPage } from './page.ts';
import { dashboardScript } from './script.ts';
import { dashboardStyle } from './style.ts';

/**
 * Only the page's own script runs and only its own style applies (nothing inline), it talks only to this engine,
 * and no other site may frame it: a framed dashboard could be clicked through (pause a worker) by the framing page.
 */
const POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export function dashboardRoutes(): Hono {
  const app = new Hono();
  app.use(async (c, next) => {
    await next();
    c.header('content-security-policy', POLICY);
    c.header('x-frame-options', 'DENY');
    c.header('x-content-type-options', 'nosniff');
    c.header('referrer-policy', 'no-referrer');
  });
  app.get('/', (c) => c.html(dashboardPage));
  app.get('/app.css', (c) => c.body(dashboardStyle, 200, { 'content-type': 'text/css; charset=utf-8' }));
  app.get('/app.js', (c) =>
    c.body(dashboardScript, 200, { 'content-type': 'text/javascript; charset=utf-8' }),
  );
  return app;
}
