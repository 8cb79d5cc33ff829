import { IdentityHttpError } from './identity-http.error.js';

/** No Bearer credentials at all (RFC 6750 §3.1: a bare challenge without an error code). */
export class MissingTokenError extends IdentityHttpError {
  readonly code = undefined;
  constructor(description = 'A Bearer access token is required') {
    super(401, description, undefined);
  }
}
