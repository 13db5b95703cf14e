// The live dashboard: one static page that reads the engine's own API with the token it is given.
import { Hono } from 'hono';
import { dashboardPage } from './page.ts';

export function dashboardRoutes(): Hono {
  const app = new Hono();
  app.get('/', (c) => {
    c.header(
      'content-security-policy',
      "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'none'",
    );
    c.header('referrer-policy', 'no-referrer');
    return c.html(dashboardPage);
  });
  return app;
}
