// Headless Chromium from the Debian package (found or installed by the global setup), driven by
// playwright-core, which downloads no browser of its own.
import { chromium, type Browser } from 'playwright-core';
import { inject } from 'vitest';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: inject('chromiumPath'),
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
  });
}
