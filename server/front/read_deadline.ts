/**
 * How long a client may take to send a request body: a floor, plus the time
 * the body's size takes at a slow but honest rate. A client that drips its
 * body (one byte a second holds a request open for days) is cut at the
 * deadline with 408. Deno.serve bounds neither headers nor bodies in time
 * (measured on 2.9.6: a connection dripping one header byte a second was
 * still open after 45 s).
 *
 * @module
 */

/** Time every body gets, however small. */
export const BODY_DEADLINE_FLOOR_MS = 10_000;

/** The slowest upload rate still served: 64 KiB/s. */
export const MIN_BODY_BYTES_PER_SEC = 64 * 1024;

/** Options of {@link bodyDeadlineMs}. */
export interface BodyDeadline {
  floorMs: number;
  minBytesPerSec: number;
}

/** The deadline for a body of `sizeBytes` (its Content-Length, or the bound when none is declared). */
export function bodyDeadlineMs(
  sizeBytes: number,
  deadline: BodyDeadline = {
    floorMs: BODY_DEADLINE_FLOOR_MS,
    minBytesPerSec: MIN_BODY_BYTES_PER_SEC,
  },
): number {
  return deadline.floorMs + Math.ceil((sizeBytes * 1000) / deadline.minBytesPerSec);
}

/**
 * Runs `read` (which consumes `req`'s body) under the deadline for `sizeBytes`;
 * undefined when the deadline passed first, the body then cancelled.
 */
export async function readWithin<T>(
  req: Request,
  sizeBytes: number,
  read: () => Promise<T>,
  deadline?: BodyDeadline,
): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), bodyDeadlineMs(sizeBytes, deadline));
  });
  const reading = read();
  try {
    const result = await Promise.race([reading, late]);
    if (result === undefined) {
      reading.catch(() => {});
      await req.body?.cancel().catch(() => {});
    }
    return result;
  } finally {
    clearTimeout(timer);
  }
}
