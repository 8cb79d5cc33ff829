import { describe, expect, it } from 'vitest';
import { InvalidRequestError } from '../../errors/invalid-request.error.js';
import { InvalidTokenError } from '../../errors/invalid-token.error.js';
import { authorizationCredentials, connectionParamsCredentials, socketIoCredentials } from './credentials.js';
import { messageAuthorization } from './message-authorization.js';

const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln';

/** Shapes of each transport's context, as @nestjs/microservices builds them. */
const contexts = {
  tcp: { getSocketRef: () => ({}), getPattern: () => 'p', getMetadata: () => ({ authorization: `Bearer ${TOKEN}` }) },
  redis: { getChannel: () => 'p', getMetadata: () => ({ authorization: `Bearer ${TOKEN}` }) },
  grpc: { getMap: () => ({}), get: (key: string) => (key === 'authorization' ? [`Bearer ${TOKEN}`] : []) },
  nats: { getSubject: () => 's', getHeaders: () => ({ values: (key: string) => (key === 'authorization' ? [`Bearer ${TOKEN}`] : []) }) },
  mqtt: { getTopic: () => 't', getPacket: () => ({ properties: { userProperties: { authorization: `Bearer ${TOKEN}` } } }) },
  rmq: { getChannelRef: () => ({}), getPattern: () => 'p', getMessage: () => ({ properties: { headers: { authorization: `Bearer ${TOKEN}` } } }) },
  kafka: { getTopic: () => 't', getPartition: () => 0, getMessage: () => ({ headers: { authorization: Buffer.from(`Bearer ${TOKEN}`) } }) },
};

describe('messageAuthorization', () => {
  it.each(Object.entries(contexts))('reads the authorization of a %s message', (_transport, context) => {
    expect(authorizationCredentials(messageAuthorization(context), 8192)).toEqual({ headers: { authorization: `Bearer ${TOKEN}` } });
  });

  it('finds nothing in a context without credentials', () => {
    expect(messageAuthorization({ getMetadata: () => undefined })).toBeUndefined();
    expect(messageAuthorization({ getMessage: () => ({ headers: {} }) })).toBeUndefined();
    expect(messageAuthorization({ getMessage: () => ({ properties: {} }) })).toBeUndefined();
    expect(messageAuthorization({ getHeaders: () => undefined })).toBeUndefined();
    expect(messageAuthorization({})).toBeUndefined();
    expect(authorizationCredentials(messageAuthorization({ getMap: () => ({}), get: () => [] }), 8192)).toEqual({ headers: {} });
  });

  it('refuses two values, two spellings, and metadata that is not an object', () => {
    expect(() => authorizationCredentials(contexts.grpc.get('authorization').concat('Bearer x'), 8192)).toThrow(InvalidRequestError);
    expect(() => messageAuthorization({ getMetadata: () => ({ authorization: 'Bearer a', AUTHORIZATION: 'Bearer b' }) })).toThrow(InvalidRequestError);
    expect(() => messageAuthorization({ getMetadata: () => 'Bearer a' })).toThrow(InvalidRequestError);
    expect(() => messageAuthorization({ getMessage: () => ({ headers: [1, 2] }) })).toThrow(InvalidRequestError);
  });
});

describe('credentials that are not HTTP headers', () => {
  it('takes one string, refuses other types and oversized values before parsing', () => {
    expect(authorizationCredentials(undefined, 10)).toEqual({ headers: {} });
    expect(authorizationCredentials('', 10)).toEqual({ headers: {} });
    expect(() => authorizationCredentials(42, 10)).toThrow(InvalidRequestError);
    expect(() => authorizationCredentials({ toString: () => 'Bearer x' }, 10)).toThrow(InvalidRequestError);
    expect(() => authorizationCredentials('x'.repeat(1_000), 10)).toThrow(InvalidTokenError);
    expect(() => authorizationCredentials(Buffer.alloc(1_000), 10)).toThrow(InvalidTokenError);
  });

  it('reads connectionParams.authorization in any case, once', () => {
    expect(connectionParamsCredentials({ Authorization: 'Bearer x' }, 10)).toEqual({ headers: { authorization: 'Bearer x' } });
    expect(connectionParamsCredentials(undefined, 10)).toEqual({ headers: {} });
    expect(() => connectionParamsCredentials({ authorization: 'Bearer x', Authorization: 'Bearer y' }, 10)).toThrow(InvalidRequestError);
    expect(() => connectionParamsCredentials(['Bearer x'], 10)).toThrow(InvalidRequestError);
    // Only own properties: nothing from a prototype.
    expect(connectionParamsCredentials(Object.create({ authorization: 'Bearer x' }) as object, 10)).toEqual({ headers: {} });
  });

  it('reads socket.io auth.token or the header, never both', () => {
    const request = { headers: { authorization: 'Bearer h' }, rawHeaders: ['Authorization', 'Bearer h'] };
    expect(socketIoCredentials({ auth: {} }, request, 10)).toBe(request);
    expect(socketIoCredentials({ auth: { token: 't' } }, { headers: {} }, 10)).toEqual({ headers: { authorization: 'Bearer t' } });
    expect(socketIoCredentials({ auth: { token: 'Bearer t' } }, { headers: {} }, 10)).toEqual({ headers: { authorization: 'Bearer t' } });
    expect(() => socketIoCredentials({ auth: { token: 't' } }, request, 10)).toThrow(/Send the token once/);
    expect(() => socketIoCredentials({ auth: { token: 7 } }, { headers: {} }, 10)).toThrow(InvalidRequestError);
  });
});
