/**
 * Best-effort writes of a last good copy (metadata, JWKS) that can be held back: while held, only
 * the latest write is kept, and release() performs it. IdentityBootstrap holds them for the
 * length of the boot, so a refused boot (a wrong encryptionKey, a failed probe, any later step)
 * leaves the store as it found it; once released, writes happen at once, as every later refresh's.
 * Writes never reject: `write` reports its own failure.
 */
export class HeldPersistence {
  private holding = false;
  private pending?: () => Promise<void>;

  /** From now on, keep the latest write instead of performing it. */
  hold(): void {
    this.holding = true;
  }

  /** Performs the write now, or keeps it (replacing any kept one) while held. */
  write(write: () => Promise<void>): Promise<void> {
    if (this.holding) {
      this.pending = write;
      return Promise.resolve();
    }
    return write();
  }

  /** Stops holding and performs the kept write, if any. Resolves once it is done. */
  release(): Promise<void> {
    this.holding = false;
    const pending = this.pending;
    this.pending = undefined;
    return pending ? pending() : Promise.resolve();
  }

  /** Whether a write is being held back (for tests and diagnostics). */
  get held(): boolean {
    return this.pending !== undefined;
  }
}
