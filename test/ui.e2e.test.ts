// The Temporal Web UI, in a real browser: an operator filters by environment, opens the deployment and
// reads what it is and where it stands — decrypted by the codec server the UI is configured with.
import { mkdir } from 'node:fs/promises';
import type { Browser, Frame, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { awaitOutcome } from '../client/deployments';
import { startDeployment } from '../cli/commands/deploy';
import { launchChromium } from './helpers/browser';
import { startTestStack, type TestStack } from './helpers/stack';

const SCREENSHOT = 'test-results/ui-deployment.png';

let stack: TestStack;
let browser: Browser;

/** The UI renders summaries and details as markdown in sandboxed frames; find the one showing `text`. */
async function frameWith(page: Page, text: string, timeoutMs = 20_000): Promise<Frame | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const frame of page.frames()) {
      const body = await frame.innerText('body', { timeout: 1_000 }).catch(() => '');
      if (body.includes(text)) return frame;
    }
    await page.waitForTimeout(250);
  }
  return undefined;
}

describe('the deployment in the Temporal Web UI', () => {
  beforeAll(async () => {
    const uiUrl = inject('temporalUiUrl');
    if (!uiUrl) throw new Error('this test needs the Temporal Web UI: unset TEMPORAL_ADDRESS, or set TEMPORAL_UI_URL with it');
    [stack, browser] = await Promise.all([startTestStack(), launchChromium()]);
  });
  afterAll(async () => {
    await browser?.close();
    await stack?.close();
  });

  it('filters by GantryEnvironment, opens the run and shows its summary and current details', async () => {
    const handle = await startDeployment(stack.client, stack.name, 'v1', { sha256: stack.repo.releases.v1!.sha256, requestedBy: 'ui-check', taskQueue: stack.taskQueue });
    expect((await awaitOutcome(handle)).status).toBe('live');
    // Stored encrypted: the UI can show the summary only by asking the codec server (with its token, from its origin).
    const started = (await handle.fetchHistory()).events![0]!;
    expect(Buffer.from(started.userMetadata!.summary!.metadata!.encoding!).toString()).toBe('binary/encrypted');

    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const query = encodeURIComponent(`GantryEnvironment="${stack.name}"`);
    await page.goto(`${inject('temporalUiUrl')}/namespaces/default/workflows?query=${query}`);
    // The filter is applied: only this environment's run is listed, and it is ours.
    // A run's link opens its history (UI 2.4x) or its timeline (UI 2.5x).
    const runLinks = 'a[href*="/workflows/deploy%2F"]:is([href$="/history"], [href$="/timeline"])';
    const rows = page.locator(runLinks, { hasText: handle.firstExecutionRunId });
    await rows.first().waitFor({ timeout: 30_000 });
    const links = await page.locator(runLinks).all();
    const listed = new Set(await Promise.all(links.map(async (link) => (await link.getAttribute('href'))?.replace(/\/(history|timeline)$/, ''))));
    expect([...listed]).toEqual([`/namespaces/default/workflows/${encodeURIComponent(handle.workflowId)}/${handle.firstExecutionRunId}`]);

    await rows.first().click();
    await page.getByRole('link', { name: 'User Metadata' }).or(page.getByText('User Metadata', { exact: true })).first().click();
    const summary = await frameWith(page, `Deploy v1 to ${stack.name}, requested by ui-check`);
    expect(summary, 'summary on the run page').toBeDefined();
    const details = await frameWith(page, 'phase live');
    expect(details, 'current details on the run page').toBeDefined();
    const table = await details!.innerText('body');
    for (const id of stack.nodeIds) expect(table).toMatch(new RegExp(`${id}\\s+live\\s+v1\\s+ready`));

    await mkdir('test-results', { recursive: true });
    await page.screenshot({ path: SCREENSHOT });
  });
});
