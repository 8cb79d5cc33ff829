/**
 * The bytes of a token segment, decoded into one reusable buffer instead of a new Buffer per
 * segment: a full verification would otherwise allocate about 1.5 KB of short-lived buffer
 * memory per request, which the garbage collector then has to find and free.
 *
 * The view is valid until the next call: use it synchronously, never across an await.
 */
const SCRATCH_BYTES = 16 * 1024;
const scratch = Buffer.allocUnsafeSlow(SCRATCH_BYTES);

export function scratchBytes(text: string, encoding: 'base64url' | 'latin1'): Buffer {
  // Decoded base64url is shorter than its text, latin1 as long: anything longer gets its own buffer.
  if (text.length > SCRATCH_BYTES) return Buffer.from(text, encoding);
  return scratch.subarray(0, scratch.write(text, 0, encoding));
}
