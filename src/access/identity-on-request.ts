/** Where the guard leaves the Identity on the request (besides `request.user`, for Passport habits). */
export const IDENTITY_ON_REQUEST = Symbol.for('nestjs-identity.identity');
