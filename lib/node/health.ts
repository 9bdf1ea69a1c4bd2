// One HTTP health probe: status code, and optionally the release the body reports.

export interface ProbeSpec {
  url: string;
  expectStatus: number;
  /** When set, the JSON body's `release` must equal it. */
  expectRelease?: string;
  timeoutMs: number;
}

export interface ProbeResult {
  healthy: boolean;
  status?: number;
  release?: string;
  reason?: string;
}

export async function probe(spec: ProbeSpec, signal?: AbortSignal): Promise<ProbeResult> {
  const timeout = AbortSignal.timeout(spec.timeoutMs);
  let response: Response;
  try {
    response = await fetch(spec.url, { signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
  } catch (err) {
    return { healthy: false, reason: `request failed: ${(err as Error).message}` };
  }
  const body = await response.text().catch(() => '');
  const release = releaseIn(body);
  if (response.status !== spec.expectStatus) {
    return { healthy: false, status: response.status, release, reason: `status ${response.status}, expected ${spec.expectStatus}` };
  }
  if (spec.expectRelease !== undefined && release !== spec.expectRelease) {
    return { healthy: false, status: response.status, release, reason: `reports release ${release ?? '(none)'}, expected ${spec.expectRelease}` };
  }
  return { healthy: true, status: response.status, release };
}

/** The `release` field of a JSON body, if it has one. */
export function releaseIn(body: string): string | undefined {
  try {
    const value = (JSON.parse(body) as { release?: unknown }).release;
    return typeof value === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}
