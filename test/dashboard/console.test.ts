// The operator's console in headless Chromium, against a served engine and real workers: a run's page with its
// input, error and attempts, Retry and Cancel from it; the runs list's filters, pages, search and bulk retry; a
// worker's page with its actions; a workflow run's page; what each scope is offered, and a revoked token sent back
// to the form; at desktop and phone widths.
import { mkdirSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../src/client/index.ts';
import { NonRetryableError, workflow } from '../../src/index.ts';
import { haveChromium, launchChromium } from '../support/chromium.ts';
import {
  API_TOKEN,
  echo,
  type Harness,
  harnessPerTest,
  job,
  until,
  untilStopped,
} from '../support/engine.ts';

/** Fails until the test heals it: a failed run that is retried then completes. */
let healed = false;
const flaky = job(
  'flaky',
  (input) => {
    if (!healed) throw new Error('the ledger is locked');
    return { settled: input };
  },
  { retries: 1 },
);
const broken = job('broken', () => {
  throw new NonRetryableError('never works');
});
const hold = job('hold', untilStopped);
const tasks = [flaky, broken, hold, echo];

const poll = <T>(read: () => Promise<T> | T) => expect.poll(read, { timeout: 15_000, interval: 50 });

describe.skipIf(!haveChromium)("the operator's console in headless Chromium", () => {
  const harness = harnessPerTest();
  let h: Harness;
  let browser: Browser;

  beforeAll(async () => {
    browser = await launchChromium();
    mkdirSync('test-artifacts', { recursive: true });
  });
  afterAll(async () => {
    await browser?.close();
  });

  /** The dashboard with `token`, opened on the overview: the token is taken from the fragment, then dropped. */
  async function openDashboard(token = API_TOKEN, viewport = { width: 1280, height: 800 }): Promise<Page> {
    const page = await browser.newPage({ viewport });
    // An action on what never shows fails the test, with what it waited for, instead of holding it to the end.
    page.setDefaultTimeout(10_000);
    await page.goto(`${h.url}/dashboard#token=${token}`);
    await poll(() => page.locator('#board').isVisible()).toBe(true);
    return page;
  }

  const failedFor = async (task: string, input: unknown) => {
    const run = await h.client.enqueue({ task, input });
    expect((await h.client.waitRun(run.id, { timeoutMs: 15_000 })).state).toBe('FAILED');
    return run;
  };
  const running = async () => {
    const run = await h.client.enqueue({ task: 'hold', input: {} });
    await until(async () => (await h.client.getRun(run.id)).state === 'RUNNING', `run ${run.id} to start`);
    // Its body too: a cancel that reaches the worker before the body starts has no signal to fire.
    await until(
      () => h.workers.some((w) => w.started.some((s) => s.runId === run.id)),
      `run ${run.id}'s body`,
    );
    return run;
  };

  /** At 390 px the page fits: nothing wider than the screen, so it never scrolls sideways. */
  async function fitsPhone(page: Page, screenshot: string): Promise<void> {
    await page.setViewportSize({ width: 390, height: 844 });
    await poll(() => page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.screenshot({ path: `test-artifacts/${screenshot}`, fullPage: true });
    await page.setViewportSize({ width: 1280, height: 800 });
  }

  it("opens a failed run's page with its input, error and both attempts, retries it to completion, and cancels a running run", async () => {
    h = await harness.start();
    healed = false;
    await h.addWorker('console-worker', { tasks });
    // What runs carry is shown as text: markup in an input makes no element.
    const input = { invoice: 'inv-7', note: '<img src="x" id="injected">' };
    const failed = await failedFor('flaky', input);

    const page = await openDashboard();
    await page.evaluate(() => {
      (window as unknown as { sameDocument: boolean }).sameDocument = true;
    });
    await page.locator(`#runs [data-run-link="${failed.id}"]`).click();
    expect(new URL(page.url()).hash).toBe(`#/runs/${failed.id}`);
    const runPage = page.locator('#run-page');
    await poll(() => runPage.locator('.title [data-state]').textContent()).toBe('FAILED');
    expect(await page.locator('#board').isVisible()).toBe(false);
    expect(await page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument)).toBe(
      true,
    );

    expect(JSON.parse((await runPage.locator('[data-json="input"]').textContent())!)).toEqual(input);
    expect(await page.locator('#injected').count()).toBe(0);
    expect(await runPage.locator('[data-error="run"] [data-error-message]').textContent()).toBe(
      'the ledger is locked',
    );
    expect(await runPage.locator('[data-error="run"] [data-stack]').textContent()).toMatch(
      /^Error: the ledger is locked\n\s+at /,
    );
    const attempts = runPage.locator('#attempts tr[data-attempt]');
    expect(await attempts.count()).toBe(2);
    for (const [i, attempt] of (await attempts.all()).entries()) {
      expect(await attempt.getAttribute('data-attempt')).toBe(String(i + 1));
      expect(await attempt.locator('[data-outcome]').textContent()).toBe('failed');
      expect(await attempt.locator('[data-worker-link]').textContent()).toBe('console-worker');
      expect(await attempt.textContent()).toContain('Error: the ledger is locked');
    }
    expect(await runPage.getByRole('button', { name: 'Cancel' }).count()).toBe(0);
    await page.screenshot({ path: 'test-artifacts/dashboard-run.png', fullPage: true });
    await fitsPhone(page, 'dashboard-run-phone.png');

    healed = true;
    await runPage.getByRole('button', { name: 'Retry' }).click();
    await poll(() => runPage.locator('.title [data-state]').textContent()).toBe('COMPLETED');
    expect(JSON.parse((await runPage.locator('[data-json="output"]').textContent())!)).toEqual({
      settled: input,
    });
    expect(await runPage.locator('[data-error="run"]').count()).toBe(0);
    // What the README shows (docs/images/run-page.png is this, copied): the page as a laptop's screen holds it.
    await page.screenshot({ path: 'test-artifacts/run-page.png' });
    expect((await h.client.getRun(failed.id)).state).toBe('COMPLETED');

    // A running run, opened by its id: Cancel, no Retry, and its attempt under way.
    const held = await running();
    await page.fill('#run-id', held.id);
    await page.press('#run-id', 'Enter');
    await poll(() => runPage.locator('.title [data-state]').textContent()).toBe('RUNNING');
    expect(await runPage.locator('#attempts [data-outcome]').textContent()).toBe('under way');
    expect(await runPage.getByRole('button', { name: 'Retry' }).count()).toBe(0);
    await runPage.getByRole('button', { name: 'Cancel' }).click();
    await poll(() => runPage.locator('.title [data-state]').textContent()).toBe('CANCELLED');
    expect((await h.client.getRun(held.id)).state).toBe('CANCELLED');
    // Told by the cancel push, or by the engine answering one of its events `stale`, whichever comes first.
    await until(
      () =>
        h.workers[0]!.aborted.some(
          (a) => a.runId === held.id && (a.reason === 'Cancelled' || a.reason === 'Stale'),
        ),
      'the worker to abort the cancelled run',
      { detail: () => ({ aborted: h.workers[0]!.aborted, logs: h.logs.slice(-15) }) },
    );
    expect(await runPage.getByRole('button', { name: 'Retry' }).count()).toBe(1);

    // A read token sees the same page with neither button.
    const reader = await openDashboard((await h.client.createToken('api', undefined, 'read')).token);
    await reader.evaluate((id) => {
      location.hash = `#/runs/${id}`;
    }, held.id);
    await poll(() => reader.locator('#run-page .title [data-state]').textContent()).toBe('CANCELLED');
    expect(await reader.locator('#run-page button').count()).toBe(0);
    expect(await reader.locator('#scope').textContent()).toBe('read token');
  });

  it('counts live runs per state, filters by task and by state, pages to older runs, and retries the failed runs of a task in bulk', async () => {
    h = await harness.start();
    healed = false;
    await h.addWorker('console-worker', { tasks });
    const echoes = await h.client.enqueueMany(
      Array.from({ length: 12 }, (_, i) => ({ task: 'echo', input: { n: i } })),
    );
    for (const run of echoes) await h.client.waitRun(run.id, { timeoutMs: 15_000 });
    const flakies = [await failedFor('flaky', { n: 1 }), await failedFor('flaky', { n: 2 })];
    const brokenRun = await failedFor('broken', {});
    const cancelled = await running();
    await h.client.cancel(cancelled.id);
    const held = await running();
    const total = echoes.length + flakies.length + 3;

    const page = await openDashboard();
    const rows = page.locator('#runs tr[data-run]');
    const shownIds = () => rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-run')));
    await poll(() => rows.count()).toBe(total);
    await poll(() => page.locator('[data-count="RUNNING"] b').textContent()).toBe('1');
    expect(await page.locator('[data-count="QUEUED"] b').textContent()).toBe('0');
    expect(await h.client.runStats()).toEqual({ QUEUED: 0, ASSIGNED: 0, RUNNING: 1 });

    await page.fill('#filter-task', 'flaky');
    await poll(shownIds).toEqual(flakies.map((r) => r.id).reverse());
    await page.fill('#filter-task', '');
    await page.selectOption('#filter-state', 'CANCELLED');
    await poll(shownIds).toEqual([cancelled.id]);
    await page.locator('[data-count="RUNNING"]').click();
    await poll(shownIds).toEqual([held.id]);
    expect(await page.locator('#filter-state').inputValue()).toBe('RUNNING');

    await page.selectOption('#filter-state', '');
    await page.selectOption('#page-size', '10');
    await poll(() => rows.count()).toBe(10);
    const newest = await shownIds();
    expect(await page.locator('#newer').isVisible()).toBe(false);
    await page.click('#older');
    await poll(() => rows.count()).toBe(total - 10);
    expect((await shownIds()).some((id) => newest.includes(id))).toBe(false);
    expect(await page.locator('#older').isVisible()).toBe(false);
    await page.click('#newer');
    await poll(shownIds).toEqual(newest);
    await page.screenshot({ path: 'test-artifacts/dashboard-overview.png', fullPage: true });
    await fitsPhone(page, 'dashboard-overview-phone.png');

    // The bulk retry takes the task filter, and asks once more before it acts.
    healed = true;
    await page.fill('#filter-task', 'flaky');
    const bulk = page.locator('#bulk-retry');
    await poll(() => bulk.textContent()).toBe('Retry failed runs of flaky');
    await bulk.click();
    await poll(() => bulk.textContent()).toBe('Confirm: retry up to 100 failed runs of flaky');
    expect((await h.client.getRun(flakies[0]!.id)).state).toBe('FAILED');
    await bulk.click();
    await poll(() => page.locator('#bulk-said').textContent()).toBe('queued again 2 failed runs');
    for (const run of flakies) {
      expect((await h.client.waitRun(run.id, { timeoutMs: 15_000 })).state).toBe('COMPLETED');
    }
    await poll(() => rows.locator('[data-state="COMPLETED"]').count()).toBe(2);
    expect((await h.client.getRun(brokenRun.id)).state).toBe('FAILED');

    // A read token is offered no bulk retry.
    const reader = await openDashboard((await h.client.createToken('api', undefined, 'read')).token);
    await poll(() => reader.locator('#runs tr[data-run]').count()).toBe(total);
    expect(await reader.locator('#bulk-retry').isVisible()).toBe(false);
  });

  it('charts the last 15 minutes of real runs, and filters the runs by worker, metadata and enqueue time in a URL that opens the same list', async () => {
    h = await harness.start();
    const first = await h.addWorker('first-worker', { tasks });
    const earlier = await h.client.enqueueMany([
      { task: 'echo', input: { n: 1 }, metadata: { region: 'eu' } },
      { task: 'echo', input: { n: 2 }, metadata: { region: 'us' } },
    ]);
    for (const run of earlier) await h.client.waitRun(run.id, { timeoutMs: 15_000 });
    const brokenRuns = [await failedFor('broken', { n: 1 }), await failedFor('broken', { n: 2 })];
    await first.close();
    await h.addWorker('second-worker', { tasks });
    // A whole second, as the time field takes it, between the runs before and the run after.
    const between = Math.ceil(Date.now() / 1000) * 1000;
    await until(() => Date.now() > between, 'the clock to pass the boundary');
    const later = await h.client.enqueue({ task: 'echo', input: { n: 3 }, metadata: { region: 'eu' } });
    await h.client.waitRun(later.id, { timeoutMs: 15_000 });
    // Nobody serves this task: its runs wait in the queue.
    await h.client.enqueueMany([{ task: 'nobody' }, { task: 'nobody' }]);

    const page = await openDashboard();
    const finished = page.locator('[data-chart="finished"]');
    await poll(() => finished.locator('[data-series="completed"]').getAttribute('data-total')).toBe('3');
    expect(await finished.locator('[data-series="failed"]').getAttribute('data-total')).toBe('2');
    expect(await finished.locator('svg').getAttribute('aria-label')).toMatch(
      /^Runs finished per second, .*: completed [0-9.]+\/s \(3 in 15 min\), failed [0-9.]+\/s \(2 in 15 min\)$/,
    );
    expect(await finished.locator('path[data-line="completed"]').getAttribute('d')).toMatch(
      /^M[0-9.]+ [0-9.]+/,
    );
    const depth = page.locator('[data-chart="queue-depth"]');
    expect(await depth.locator('[data-series="nobody"]').getAttribute('data-last')).toBe('2');
    expect(await depth.locator('svg title').textContent()).toContain('nobody 2');
    const latency = page.locator('[data-chart="dispatch-latency"]');
    for (const quantile of ['p50', 'p99']) {
      expect(
        Number(await latency.locator(`[data-series="${quantile}"]`).getAttribute('data-last')),
      ).toBeGreaterThanOrEqual(0);
    }
    // The chart follows the queue as it grows.
    await h.client.enqueue({ task: 'nobody' });
    await poll(() => depth.locator('[data-series="nobody"]').getAttribute('data-last')).toBe('3');

    const rows = page.locator('#runs tr[data-run]');
    const shownIds = (p: Page) =>
      p.locator('#runs tr[data-run]').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-run')));
    await poll(() => rows.count()).toBe(8);
    await page.selectOption('#filter-worker', first.id!);
    await poll(() => shownIds(page)).toEqual([...earlier, ...brokenRuns].map((r) => r.id).reverse());
    expect(new URL(page.url()).hash).toBe(`#/?worker=${first.id}`);
    await page.fill('#filter-metadata', 'region=eu');
    await poll(() => shownIds(page)).toEqual([earlier[0]!.id]);
    await page.selectOption('#filter-worker', '');
    await poll(() => shownIds(page)).toEqual([later.id, earlier[0]!.id]);
    const localBetween = await page.evaluate((ms) => {
      const d = new Date(ms);
      return new Date(ms - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 19);
    }, between);
    await page.fill('#filter-after', localBetween);
    await poll(() => shownIds(page)).toEqual([later.id]);
    const shared = new URL(page.url()).hash;
    expect(Object.fromEntries(new URLSearchParams(shared.slice(3)))).toEqual({
      metadata: 'region=eu',
      createdAfter: new Date(between).toISOString(),
    });
    await page.locator(`[data-run-link="${later.id}"]`).click();
    await poll(() => page.locator('#run-page [data-fact="metadata"]').textContent()).toBe('region=eu');
    await page.locator('#run-page .crumbs a').click();
    await poll(() => new URL(page.url()).hash).toBe(shared);
    await poll(() => shownIds(page)).toEqual([later.id]);

    // The link opens the same list elsewhere; what is not a valid filter is left out, and said.
    const other = await openDashboard();
    await other.evaluate((hash) => {
      location.hash = hash;
    }, shared);
    await poll(() => shownIds(other)).toEqual([later.id]);
    expect(await other.locator('#filter-metadata').inputValue()).toBe('region=eu');
    expect(await other.locator('#filter-after').inputValue()).toBe(localBetween);
    await other.evaluate(() => {
      location.hash = '#/?state=DONE&metadata=region&task=broken&createdAfter=soon';
    });
    await poll(() => other.locator('#filter-said').textContent()).toBe(
      'left out: state DONE is not a run state; metadata takes key=value; createdAfter soon is not a time',
    );
    await poll(() => shownIds(other)).toEqual(brokenRuns.map((r) => r.id).reverse());
    expect(new URL(other.url()).hash).toBe('#/?task=broken');
    await fitsPhone(other, 'dashboard-charts-phone.png');
  });

  it("shows a worker's page with the runs it holds, pauses and resumes it, and removes a dead worker", async () => {
    h = await harness.start();
    const live = await h.addWorker('console-worker', { tasks, labels: { region: 'eu' }, slots: 3 });
    const dead = await h.addWorker('dead-worker', { tasks: [job('only-dead', () => null)] });
    const held = await running();

    const page = await openDashboard();
    await page.locator(`#workers [data-worker-link="${live.id}"]`).click();
    const workerPage = page.locator('#worker-page');
    await poll(() => workerPage.locator('.title [data-state]').textContent()).toBe('ACTIVE');
    expect(await workerPage.locator('[data-fact="url"]').textContent()).toBe(live.url);
    expect(await workerPage.locator('[data-fact="labels"]').textContent()).toBe('region=eu');
    await poll(() => workerPage.locator('[data-fact="slots"]').textContent()).toBe('1/3');
    expect(
      await workerPage.locator('tr[data-task]').evaluateAll((trs) => trs.map((tr) => tr.dataset.task)),
    ).toEqual(tasks.map((t) => t.name));
    await poll(() =>
      workerPage.locator('#held-runs tr[data-run]').evaluateAll((trs) => trs.map((tr) => tr.dataset.run)),
    ).toEqual([held.id]);
    expect(await workerPage.getByRole('button').allTextContents()).toEqual(['Pause']);

    await workerPage.getByRole('button', { name: 'Pause' }).click();
    await poll(() => workerPage.locator('.title [data-state]').textContent()).toBe('PAUSED');
    expect(await workerPage.getByRole('button').allTextContents()).toEqual(['Resume']);
    await workerPage.getByRole('button', { name: 'Resume' }).click();
    await poll(() => workerPage.locator('.title [data-state]').textContent()).toBe('ACTIVE');
    await workerPage.locator(`[data-run-link="${held.id}"]`).click();
    await poll(() => page.locator('#run-page .title [data-state]').textContent()).toBe('RUNNING');

    await dead.kill();
    await until(
      async () => (await h.client.listWorkers()).find((w) => w.id === dead.id)?.state === 'INACTIVE',
      'the dead worker to be seen INACTIVE',
    );
    await page.locator('#run-page .crumbs a').click();
    await page.locator(`#workers [data-worker-link="${dead.id}"]`).click();
    await poll(() => workerPage.locator('.title [data-state]').textContent()).toBe('INACTIVE');
    expect(await workerPage.getByRole('button').allTextContents()).toEqual(['Remove']);
    await workerPage.getByRole('button', { name: 'Remove' }).click();
    await poll(() => new URL(page.url()).hash).toBe('#/');
    await poll(() => page.locator(`#workers [data-worker-link="${dead.id}"]`).count()).toBe(0);
    expect((await h.client.listWorkers()).map((w) => w.name)).toEqual(['console-worker']);
    await fitsPhone(page, 'dashboard-workers-phone.png');
  });

  it("links a workflow task's run to its workflow run, whose page lists each task with its run", async () => {
    h = await harness.start();
    const first = job('wf.first', () => ({ made: 1 }));
    const second = { ...job('wf.second', () => ({ made: 2 })), parents: [first] };
    await h.addWorker('flow-worker', { workflows: [workflow({ name: 'pair', tasks: [first, second] })] });
    const enqueued = await h.client.runWorkflow({ workflow: 'pair', input: { order: 'o-1' } });
    const done = await h.client.waitWorkflowRun(enqueued.id, { timeoutMs: 15_000 });
    expect(done.state).toBe('COMPLETED');
    const [firstRun, secondRun] = done.tasks.map((t) => t.runId!);

    const page = await openDashboard();
    await page.locator(`#runs [data-run-link="${firstRun}"]`).click();
    await page.locator(`#run-page [data-workflow-link="${done.id}"]`).click();
    const flowPage = page.locator('#workflow-page');
    await poll(() => flowPage.locator('.title [data-state]').textContent()).toBe('COMPLETED');
    expect(await flowPage.locator('.title code').textContent()).toBe('pair');
    expect(JSON.parse((await flowPage.locator('[data-json="input"]').textContent())!)).toEqual({
      order: 'o-1',
    });
    const tasksShown = await flowPage
      .locator('#workflow-tasks tr[data-task]')
      .evaluateAll((trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
    expect(tasksShown).toEqual([
      ['wf.first', '–', 'COMPLETED', firstRun],
      ['wf.second', 'wf.first', 'COMPLETED', secondRun],
    ]);
    await flowPage.locator(`[data-run-link="${secondRun}"]`).click();
    await poll(() => page.locator('#run-page [data-fact="task"]').textContent()).toBe('wf.second');
  });

  it('lets an enqueue token cancel the run it enqueued, and on its revocation stops polling and asks for a token', async () => {
    h = await harness.start();
    await h.addWorker('console-worker', { tasks });
    const minted = await h.client.createToken('api', undefined, 'enqueue');
    const own = await createClient({ url: h.url, token: minted.token }).enqueue({ task: 'hold', input: {} });
    await until(async () => (await h.client.getRun(own.id)).state === 'RUNNING', 'the run to start');

    const page = await openDashboard(minted.token);
    await page.locator(`#runs [data-run-link="${own.id}"]`).click();
    const runPage = page.locator('#run-page');
    await poll(() => runPage.locator('.title [data-state]').textContent()).toBe('RUNNING');
    expect(await page.locator('#scope').textContent()).toBe('enqueue token');
    await runPage.getByRole('button', { name: 'Cancel' }).click();
    await poll(() => runPage.locator('.title [data-state]').textContent()).toBe('CANCELLED');
    expect((await h.client.getRun(own.id)).state).toBe('CANCELLED');

    // A run another token enqueued: the engine refuses it, and the page says so until the next action or page.
    const others = await running();
    await page.fill('#run-id', others.id);
    await page.press('#run-id', 'Enter');
    await poll(() => runPage.locator('.title [data-state]').textContent()).toBe('RUNNING');
    await runPage.getByRole('button', { name: 'Cancel' }).click();
    await poll(() => page.locator('#said').textContent()).toMatch(
      /^refused: .*acts only on runs it enqueued/,
    );
    const refreshed = await page.locator('#updated').textContent();
    await poll(() => page.locator('#updated').textContent()).not.toBe(refreshed);
    expect(await page.locator('#said').textContent()).toMatch(/^refused: /);
    expect((await h.client.getRun(others.id)).state).toBe('RUNNING');

    await h.client.revokeToken(minted.id);
    await poll(() => page.locator('body').getAttribute('data-polling')).toBe('stopped');
    expect(await page.locator('#login').isVisible()).toBe(true);
    expect(await runPage.isVisible()).toBe(false);
    expect(await page.locator('#updated').textContent()).toMatch(/refused \(unauthorized\)/);
  });
});
