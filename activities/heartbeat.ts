// Keeps an activity's heartbeat going while a long step runs, so a dead worker is noticed within
// the heartbeat timeout instead of the whole start-to-close timeout.
import { Context } from '@temporalio/activity';

export async function withHeartbeat<T>(work: (signal: AbortSignal) => Promise<T>, details?: () => unknown, everyMs = 2_000): Promise<T> {
  const ctx = Context.current();
  ctx.heartbeat(details?.());
  const timer = setInterval(() => ctx.heartbeat(details?.()), everyMs);
  try {
    return await work(ctx.cancellationSignal);
  } finally {
    clearInterval(timer);
  }
}
