import { createHmac, hkdfSync, randomBytes } from 'node:crypto';

/**
 * Server-provided DPoP nonces (RFC 9449 §9). A nonce is an HMAC of the current time window under
 * a secret, so replicas that share the secret issue and accept the same nonces without talking to
 * each other. A timer moves to the next window every `rotationSeconds`; the previous window's
 * nonce stays accepted (a client that got it just before the rotation), and so does the next
 * one (a replica whose clock is slightly ahead).
 */
export class DpopNonces {
  private window = 0;
  private accepted: readonly string[] = [];
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly secret: Buffer,
    private readonly rotationMs: number,
    private readonly clock: () => number = Date.now,
  ) {
    this.rotate();
  }

  /** The secret: the configured one, else derived from the encryption key, else random (one replica). */
  static secretFrom(configured: string | undefined, encryptionKey: Buffer | undefined): Buffer {
    if (configured !== undefined) return Buffer.from(hkdfSync('sha256', configured, 'nestjs-identity', 'dpop-nonce', 32));
    if (encryptionKey !== undefined) return Buffer.from(hkdfSync('sha256', encryptionKey, 'nestjs-identity', 'dpop-nonce', 32));
    return randomBytes(32);
  }

  /** The nonce to hand out now. */
  current(): string {
    this.catchUp();
    return this.accepted[1]!;
  }

  /** Whether a proof's nonce is the current one, the previous one or the next one. */
  accepts(nonce: string): boolean {
    this.catchUp();
    return this.accepted.includes(nonce);
  }

  start(): void {
    this.timer ??= setInterval(() => this.rotate(), this.rotationMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The timer may lag behind the clock (a busy event loop): windows always follow the clock. */
  private catchUp(): void {
    if (Math.floor(this.clock() / this.rotationMs) !== this.window) this.rotate();
  }

  private rotate(): void {
    this.window = Math.floor(this.clock() / this.rotationMs);
    this.accepted = Object.freeze([this.nonceOf(this.window - 1), this.nonceOf(this.window), this.nonceOf(this.window + 1)]);
  }

  private nonceOf(window: number): string {
    return createHmac('sha256', this.secret).update(`dpop-nonce:${window}`).digest('base64url');
  }
}
