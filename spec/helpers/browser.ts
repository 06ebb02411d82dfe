// Why this file exists: the browser harness for the web page's tests — Debian's chromium
// (/usr/bin/chromium) driven by puppeteer-core, which never downloads a browser. A suite runs
// where chromium is installed, is skipped with the reason elsewhere, and fails under CI=true
// (as the multi-host suites do); the browser is always closed, even when a test fails.

import { accessSync, constants } from 'node:fs';
import { launch, type Browser, type ConsoleMessage, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe } from 'vitest';

export const CHROMIUM_PATH = '/usr/bin/chromium';

export type BrowserAvailability = { ok: true } | { ok: false; reason: string };

export function chromiumAvailable(path = CHROMIUM_PATH): BrowserAvailability {
  try {
    accessSync(path, constants.X_OK);
    return { ok: true };
  } catch {
    return { ok: false, reason: `no chromium at ${path} (apt-get install chromium)` };
  }
}

/** What a browser suite does: run; skip (no chromium here); or fail (no chromium, and CI=true says it must run). */
export function browserPlan(available: BrowserAvailability, env: NodeJS.ProcessEnv): 'run' | 'skip' | 'fail' {
  if (available.ok) return 'run';
  return env.CI === 'true' ? 'fail' : 'skip';
}

/** Starts headless chromium (without its sandbox when running as root, where it refuses one). */
export function launchChromium(path = CHROMIUM_PATH): Promise<Browser> {
  const root = process.getuid?.() === 0;
  return launch({
    executablePath: path,
    headless: true,
    args: [...(root ? ['--no-sandbox'] : []), '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check'],
  });
}

/** Runs `body` with a browser, and closes it whatever happens. */
export async function withBrowser<T>(body: (browser: Browser) => Promise<T>): Promise<T> {
  const browser = await launchChromium();
  try {
    return await body(browser);
  } finally {
    await browser.close();
  }
}

export interface Viewport {
  widthPx: number;
  heightPx: number;
}

export const DESKTOP: Viewport = { widthPx: 1200, heightPx: 900 };
export const PHONE: Viewport = { widthPx: 360, heightPx: 740 };

export interface OpenedPage {
  page: Page;
  /** Console errors (a CSP violation logs one), uncaught exceptions, answers of status 400 and above. */
  problems: string[];
}

/** A fresh page (its own storage) at `viewport`, watched for problems, at `url`. */
export async function openPage(browser: Browser, url: string, viewport: Viewport): Promise<OpenedPage> {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (message: ConsoleMessage) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error: unknown) => problems.push(`page error: ${error instanceof Error ? error.message : String(error)}`));
  page.on('response', (response) => {
    if (response.status() >= 400) problems.push(`HTTP ${response.status()} ${response.url()}`);
  });
  page.on('close', () => void context.close().catch(() => undefined));
  await page.setViewport({ width: viewport.widthPx, height: viewport.heightPx, isMobile: viewport.widthPx <= 480, hasTouch: viewport.widthPx <= 480 });
  await page.goto(url, { waitUntil: 'load' });
  return { page, problems };
}

/**
 * A describe() for suites that drive a browser: one chromium for the suite (`browser()` inside
 * tests), closed after it; skipped with the reason where there is none, failed under CI=true.
 */
export function describeBrowser(name: string, body: (browser: () => Browser) => void): void {
  const available = chromiumAvailable();
  const plan = browserPlan(available, process.env);
  if (plan === 'skip' && !available.ok) console.warn(`${name}: skipped: ${available.reason}`);
  describe.skipIf(plan === 'skip')(name, () => {
    let browser: Browser | null = null;
    beforeAll(async () => {
      if (!available.ok) throw new Error(`browser harness unavailable: ${available.reason}`);
      browser = await launchChromium();
    });
    afterAll(async () => {
      await browser?.close();
    });
    body(() => {
      if (browser === null) throw new Error('the browser did not start');
      return browser;
    });
  });
}
