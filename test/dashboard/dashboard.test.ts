import { mkdirSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tasks } from '../../examples/tasks.ts';
import { createClient } from '../../src/client/index.ts';
import { createEngine, type Engine, type ServedEngine, serveEngine } from '../../src/engine/index.ts';
import { haveChromium, launchChromium } from '../support/chromium.ts';
import { type HarnessWorker, startWorker } from '../support/engine.ts';
import { until } from '../support/until.ts';

const TOKEN = 'pwa_dashboard-test-token-0123456789';

describe.skipIf(!haveChromium)('the dashboard in headless Chromium', () => {
  let served: ServedEngine;
  let engine: Engine;
  let worker: HarnessWorker;
  let browser: Browser;
  const client = () => createClient({ url: served.url, token: TOKEN });

  beforeAll(async () => {
    engine = await createEngine({ apiTokens: [TOKEN], retryBaseMs: 50, allowPrivateTargets: true });
    served = await serveEngine(engine);
    const token = await engine.createToken('worker', 'dash-worker');
    worker = await startWorker('dash-worker', {
      engineUrl: served.url,
      token: token.token,
      tasks,
      slots: 100,
      labels: { region: 'eu' },
    });
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await worker?.close();
    await served?.close();
  });

  it('shows workers, queue depth per task, schedules with their next ticks and recent runs, and pauses a worker', async () => {
    const c = client();
    await until(
      async () => (await c.listWorkers()).some((w) => w.state === 'ACTIVE'),
      'the worker to register',
      {
        timeoutMs: 15_000,
        everyMs: 100,
      },
    );
    const runs = await c.enqueueMany([
      ...Array.from({ length: 5 }, (_, i) => ({ task: 'echo', input: { message: `m${i}` } })),
      { task: 'fail', input: { message: 'no', retryable: false } },
      ...Array.from({ length: 3 }, () => ({ task: 'nobody-serves-this', input: {} })),
    ]);
    for (const run of runs.slice(0, 6)) await c.waitRun(run.id, { timeoutMs: 15_000 });

    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${served.url}/dashboard#token=${TOKEN}`);
    const row = page.locator('tr[data-worker="dash-worker"]');
    await expect.poll(() => row.locator('[data-state]').textContent()).toBe('ACTIVE');
    expect(await row.textContent()).toContain('region=eu');
    expect(await row.textContent()).toMatch(/\d+\/100/);
    expect(page.url()).not.toContain(TOKEN);

    await expect
      .poll(() => page.locator('tr[data-task="nobody-serves-this"] [data-queued]').textContent())
      .toBe('3');
    await expect.poll(() => page.locator('#runs tr[data-run] [data-state="COMPLETED"]').count()).toBe(5);
    expect(await page.locator('#runs tr[data-run] [data-state="FAILED"]').count()).toBe(1);
    expect(await page.locator('#runs tr[data-run] [data-state="QUEUED"]').count()).toBe(3);
    // A queued run says why it is not running.
    expect(await page.locator(`#runs [data-why="${runs[6]!.id}"]`).textContent()).toBe(
      'waiting for a worker that serves this task (none is ACTIVE)',
    );

    const nightly = await c.createSchedule({ name: 'nightly', task: 'echo', cron: '0 3 * * *', input: {} });
    const schedule = page.locator('tr[data-schedule="nightly"]');
    await expect
      .poll(() => schedule.locator('[data-next]').getAttribute('data-next'))
      .toBe(nightly.nextTickAt);
    expect(await schedule.locator('[data-cron]').textContent()).toBe('0 3 * * *');
    expect(await schedule.textContent()).toContain('active');
    await c.pauseSchedule('nightly');
    await expect.poll(() => schedule.locator('[data-next]').textContent()).toBe('–');
    expect(await schedule.textContent()).toContain('paused');

    await row.getByRole('button', { name: 'Pause' }).click();
    await expect.poll(() => row.locator('[data-state]').textContent()).toBe('PAUSED');
    expect((await c.listWorkers()).find((w) => w.name === 'dash-worker')?.state).toBe('PAUSED');

    mkdirSync('test-artifacts', { recursive: true });
    await page.screenshot({ path: 'test-artifacts/dashboard.png', fullPage: true });

    await row.getByRole('button', { name: 'Resume' }).click();
    await expect.poll(() => row.locator('[data-state]').textContent()).toBe('ACTIVE');
  });

  it("says why a worker's pushes fail, and removes a gone worker but offers no Pause for it", async () => {
    // A worker that registers an address nothing listens on (port 1: only root may listen there).
    const { token } = await engine.createToken('worker', 'gone-worker');
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const manifest = {
      name: 'gone-worker',
      url: 'http://127.0.0.1:1',
      slots: 1,
      labels: {},
      tasks: [{ name: 'only-gone', inputSchema: {}, timeoutMs: 1000, retries: 0, slotCost: 1 }],
    };
    const put = await fetch(`${served.url}/v1/workers`, {
      method: 'PUT',
      headers,
      body: JSON.stringify(manifest),
    });
    expect(put.status).toBe(200);
    const { workerId } = (await put.json()) as { workerId: string };
    await client().enqueue({ task: 'only-gone', input: {} });

    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${served.url}/dashboard#token=${TOKEN}`);
    const row = page.locator('tr[data-worker="gone-worker"]');
    await expect
      .poll(() => row.locator('[data-problem]').textContent(), { timeout: 15_000 })
      .toMatch(/^push failing: no answer from http:\/\/127\.0\.0\.1:1 \(ECONNREFUSED\)$/);

    const stopped = await fetch(`${served.url}/v1/workers/${workerId}/heartbeat`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ state: 'STOPPED' }),
    });
    expect(stopped.status).toBe(200);
    await expect.poll(() => row.locator('[data-state]').textContent()).toBe('STOPPED');
    expect(await row.getByRole('button', { name: 'Pause' }).count()).toBe(0);
    await row.getByRole('button', { name: 'Remove' }).click();
    await expect.poll(() => row.count()).toBe(0);
    expect((await client().listWorkers()).some((w) => w.id === workerId)).toBe(false);
  });

  it('shows runs and workers to a read token and offers it no worker actions; an admin token gets them', async () => {
    const c = client();
    await until(async () => (await c.listWorkers()).some((w) => w.name === 'dash-worker'), 'the worker', {
      timeoutMs: 15_000,
      everyMs: 100,
    });
    const done = await c.enqueue({ task: 'echo', input: { message: 'seen by a reader' } });
    await c.waitRun(done.id, { timeoutMs: 15_000 });
    const pauseButtons: Record<string, number> = {};
    for (const scope of ['read', 'admin'] as const) {
      const { token } = await engine.createToken('api', undefined, scope);
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      await page.goto(`${served.url}/dashboard#token=${token}`);
      const row = page.locator('tr[data-worker="dash-worker"]');
      await expect.poll(() => row.locator('[data-state]').textContent()).toBe('ACTIVE');
      await expect
        .poll(() => page.locator(`tr[data-run="${done.id}"] [data-state]`).textContent())
        .toBe('COMPLETED');
      expect(await page.locator('#scope').textContent()).toBe(`${scope} token`);
      expect(await page.locator('#error').textContent()).toBe('');
      // The scope is known before the first refresh draws a row, so the row shows its buttons, or none, at once.
      pauseButtons[scope] = await row.getByRole('button', { name: 'Pause' }).count();
      await page.close();
    }
    expect(pauseButtons).toEqual({ read: 0, admin: 1 });
  });

  it('asks for a token in its own form, and on a refused one stops polling and asks again', async () => {
    const page = await browser.newPage();
    await page.clock.install();
    let dialogs = 0;
    page.on('dialog', (dialog) => {
      dialogs++;
      void dialog.dismiss();
    });
    const calls: string[] = [];
    page.on('request', (request) => {
      const path = new URL(request.url()).pathname;
      if (path.startsWith('/v1/')) calls.push(path);
    });
    await page.goto(`${served.url}/dashboard`);
    await expect.poll(() => page.locator('#login').isVisible()).toBe(true);
    expect(await page.locator('#board').isVisible()).toBe(false);
    expect(calls).toEqual([]);

    await page.fill('#token-input', 'pwa_not-a-valid-token-000000000');
    await page.click('#login button[type=submit]');
    await expect.poll(() => page.locator('body').getAttribute('data-polling')).toBe('stopped');
    expect(await page.locator('#login').isVisible()).toBe(true);
    expect(await page.locator('#updated').textContent()).toMatch(/refused \(unauthorized\)/);
    const refused = calls.length;
    expect(refused).toBeGreaterThan(0);
    await page.clock.runFor(10_000);
    expect(calls.length).toBe(refused);

    await page.fill('#token-input', TOKEN);
    await page.click('#login button[type=submit]');
    await expect.poll(() => page.locator('tr[data-worker="dash-worker"]').count()).toBe(1);
    expect(await page.locator('#login').isVisible()).toBe(false);
    expect(dialogs).toBe(0);
  });

  it('fits a 390 px phone: no sideways scrolling, and each run shows its state', async () => {
    const c = client();
    const done = await c.enqueue({ task: 'echo', input: { message: 'on a phone' } });
    await c.waitRun(done.id, { timeoutMs: 15_000 });
    const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
    await page.goto(`${served.url}/dashboard#token=${TOKEN}`);
    const state = page.locator(`tr[data-run="${done.id}"] [data-state]`);
    await expect.poll(() => state.textContent()).toBe('COMPLETED');
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    const box = await state.boundingBox();
    expect(box!.x).toBeGreaterThanOrEqual(0);
    expect(box!.x + box!.width).toBeLessThanOrEqual(390);
    expect(await page.locator(`tr[data-run="${done.id}"] td[data-label="State"]`).count()).toBe(1);
    await page.screenshot({ path: 'test-artifacts/dashboard-phone.png', fullPage: true });
  });
});
