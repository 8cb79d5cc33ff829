/** The part of an outgoing packet a ClientProxy dispatch hook may set (Nest's PacketMetadata). */
export interface DispatchedPacket {
  metadata?: Record<string, string>;
}

/**
 * The sending half for TCP and Redis: puts `authorization: 'Bearer <token>'` in the packet
 * metadata of every request and event a `ClientProxy` sends, where the message guard reads it.
 * The token never enters the payload.
 *
 * ```ts
 * client.setOnDispatchHook(authorizationDispatchHook(() => tokens.current()));
 * ```
 *
 * `token` is a string, or a function called for every packet (return the current token, or
 * undefined to send none). The hook is per client: keep one client per credential, or return the
 * token of the current call from AsyncLocalStorage.
 */
export function authorizationDispatchHook(token: string | (() => string | undefined)): (packet: DispatchedPacket) => void {
  return (packet) => {
    const value = typeof token === 'function' ? token() : token;
    if (value === undefined || value === '') return;
    packet.metadata = { ...packet.metadata, authorization: `Bearer ${value}` };
  };
}
