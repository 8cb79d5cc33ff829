import { authorizationMember } from './credentials.js';
import { isObject } from './credential-reader.js';

type Methods = Record<string, unknown>;

/**
 * The `authorization` a message carries, read from its transport context (the second handler
 * argument, `context.switchToRpc().getContext()`) by shape, so no transport package is loaded:
 *
 * - TCP and Redis: the packet metadata (`TcpContext` / `RedisContext#getMetadata()`), which a
 *   `ClientProxy` sets in `setOnDispatchHook` (see `authorizationDispatchHook()`).
 * - gRPC: the call `Metadata` (`metadata.get('authorization')`).
 * - NATS: the message headers (`NatsContext#getHeaders()`, set with `NatsRecordBuilder#setHeaders`).
 * - MQTT 5: the user properties (`MqttContext#getPacket().properties.userProperties`).
 * - RabbitMQ: the message headers (`RmqContext#getMessage().properties.headers`, `RmqRecordBuilder` options).
 * - Kafka: the message headers (`KafkaContext#getMessage().headers`).
 *
 * Undefined when there is none. Two spellings (`authorization` and `Authorization`) are refused
 * here (400); several values of one header are returned for authorizationCredentials() to refuse.
 */
export function messageAuthorization(context: object): unknown {
  const ctx = context as Methods;
  if (typeof ctx.getMetadata === 'function') return authorizationMember(call(ctx, 'getMetadata'), 'the message metadata');
  if (typeof ctx.getMap === 'function' && typeof ctx.get === 'function') return call(ctx, 'get', 'authorization');
  if (typeof ctx.getHeaders === 'function') return natsHeader(call(ctx, 'getHeaders'));
  if (typeof ctx.getPacket === 'function') {
    const packet = call(ctx, 'getPacket');
    const properties = isObject(packet) ? packet.properties : undefined;
    return authorizationMember(isObject(properties) ? properties.userProperties : undefined, 'the MQTT user properties');
  }
  if (typeof ctx.getMessage === 'function') {
    const message = call(ctx, 'getMessage');
    if (!isObject(message)) return undefined;
    // RabbitMQ keeps headers under properties; Kafka on the message.
    if (isObject(message.properties)) return authorizationMember(message.properties.headers, 'the message headers');
    return authorizationMember(message.headers, 'the message headers');
  }
  return undefined;
}

function call(target: Methods, method: string, ...args: unknown[]): unknown {
  return (target[method] as (...a: unknown[]) => unknown).apply(target, args);
}

/** NATS `MsgHdrs` (`values(key)`) or a plain object. */
function natsHeader(headers: unknown): unknown {
  if (!isObject(headers)) return undefined;
  if (typeof headers.values === 'function') {
    const values = headers.values as (key: string) => unknown;
    const lower = values.call(headers, 'authorization');
    const upper = values.call(headers, 'Authorization');
    const all = [...(Array.isArray(lower) ? lower : []), ...(Array.isArray(upper) && upper !== lower ? upper : [])];
    return [...new Set(all)];
  }
  return authorizationMember(headers, 'the message headers');
}
