/**
 * Resolves with `promise`, or rejects after `ms` with the error `timedOut` makes (or an Error
 * saying what did not finish). The timer never keeps the process alive and is cleared either way.
 * The one deadline every outbound wait uses (Redis commands, the revocation load, vendor SDK calls).
 */
export function within<T>(promise: Promise<T>, ms: number, timedOut: string | (() => Error)): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(typeof timedOut === 'string' ? new Error(`${timedOut} did not finish within ${ms} ms`) : timedOut()), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
