import { IdentityHttpError } from './identity-http.error.js';

/** The request itself is malformed, e.g. two Authorization headers (RFC 6750 §3.1 `invalid_request`). */
export class InvalidRequestError extends IdentityHttpError {
  readonly code = 'invalid_request';
  constructor(description: string) {
    super(400, description, 'invalid_request');
  }
}
