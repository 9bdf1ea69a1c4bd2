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
    throw new WebhookError(`webhook request failed: ${(err as Error).message}`, false);
  }
  await response.body?.cancel();
  if (response.ok) return response.status;
  const permanent = response.status >= 400 && response.status < 500 && response.status !== 408 && response.status !== 429;
  throw new WebhookError(`webhook answered ${response.status}`, permanent);
}
