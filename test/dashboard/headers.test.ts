// The dashboard's answers as a browser reads them: no inline script allowed, never framed by another site.
import { describe, expect, it } from 'vitest';
import { dashboardRoutes } from '../../src/engine/dashboard/routes.ts';

const app = dashboardRoutes();

describe('the dashboard', () => {
  it('allows only its own script and no framing, on the page and on its script', async () => {
    for (const path of ['/', '/app.js', '/app.css']) {
      const res = await app.fetch(new Request(`http://engine${path}`));
      expect(res.status).toBe(200);
      const policy = res.headers.get('content-security-policy')!;
      expect(policy).toContain("frame-ancestors 'none'");
      expect(policy).toMatch(/script-src 'self'(;|$)/);
      expect(policy).not.toMatch(/unsafe-inline/);
      expect(policy).toMatch(/style-src 'self'(;|$)/);
      expect(res.headers.get('x-frame-options')).toBe('DENY');
    }
  });

  it('has no inline script in its page, and serves the script it names', async () => {
    const page = await (await app.fetch(new Request('http://engine/'))).text();
    expect(page).not.toMatch(/<script>/);
    expect(page).toContain('<script src="/dashboard/app.js" defer></script>');
    const script = await app.fetch(new Request('http://engine/app.js'));
    expect(script.headers.get('content-type')).toMatch(/^text\/javascript/);
    const code = await script.text();
    expect(code).toContain("sessionStorage.getItem('pushworker-token')");
    expect(code).not.toContain('prompt(');
    expect(page).not.toMatch(/<style|style="/);
    expect(page).toContain('<link rel="stylesheet" href="/dashboard/app.css">');
    const style = await app.fetch(new Request('http://engine/app.css'));
    expect(style.headers.get('content-type')).toMatch(/^text\/css/);
  });
});
