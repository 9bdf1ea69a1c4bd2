// JSON webhook delivery with a hard timeout. Callers decide whether a failure matters.

export class WebhookError extends Error {
  override readonly name = 'WebhookError';
  constructor(
    message: string,
    /** 4xx other than 408/429: the receiver rejected the payload, a retry will not help. */
    readonly permanent: boolean,
  ) {
    super(message);
  }
}

export async function postJson(
  url: string,
  body: unknown,
  timeoutMs: number,
  signal?: AbortSignal,
  sign?: (raw: string) => Record<string, string>,
): Promise<number> {
  // The URL is a secret (a Slack webhook URL is a credential): no message may carry it.
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    throw new WebhookError('the channel\'s URL (value withheld) is not a valid URL; check the variable or file it is read from', true);
  }
  if (!isSafeDestination(target)) {
    throw new WebhookError(`refusing to send to ${target.protocol}//${target.hostname}: notifications go over https (plain http only to this machine's loopback)`, true);
  }
  const raw = JSON.stringify(body);
  const timeout = AbortSignal.timeout(timeoutMs);
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'gantry', ...sign?.(raw) },
      body: raw,
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    throw new WebhookError(`webhook request to ${target.hostname} failed: ${cause ?? (err as Error).name}`, false);
  }
  await response.body?.cancel();
  if (response.ok) return response.status;
  const permanent = response.status >= 400 && response.status < 500 && response.status !== 408 && response.status !== 429;
  throw new WebhookError(`webhook answered ${response.status}`, permanent);
}

/** https anywhere; plain http only to loopback (a receiver on this machine). */
export function isSafeDestination(url: URL): boolean {
  return url.protocol === 'https:' || (url.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname));
}
