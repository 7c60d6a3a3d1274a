/**
 * Works around an aedes bug (moscajs/aedes#1003, open; still in aedes 1.2): a client with a
 * persistent session (`clean: false`) that subscribes at QoS 2 to a topic with a retained message
 * is disconnected, and never gets the message.
 *
 * Why: aedes sends retained messages on SUBSCRIBE without putting them in the session's outgoing
 * queue (`deliverQoS` skips `outgoingUpdate` when `packet.retain`). When the client answers the
 * QoS 2 PUBLISH with PUBREC, `handlePubrec` (persistent sessions only) calls
 * `persistence.outgoingUpdate(client, pubrel)` to swap the queued PUBLISH for the PUBREL; the
 * memory persistence finds nothing and throws "no such packet", aedes treats that as a protocol
 * error and drops the connection. The client never receives PUBREL, so mqtt.js never emits the
 * message; it reconnects after its reconnect delay, and anything it published meanwhile (a QoS 2
 * PUBLISH in flight) waits for that reconnect: the ~1–2 s stall.
 *
 * The fix: a PUBREL that has no queued message to replace is not an error. The PUBREC still has to
 * be answered with PUBREL (MQTT-4.3.3-1), which is what aedes already does for clean sessions
 * (it writes PUBREL without touching the queue); we let the persistent path do the same. Only that
 * case is swallowed: other failures, and updates of PUBLISH packets, still reach aedes.
 */

/** The slice of an aedes persistence this needs (aedes 1.x calls it without a callback). */
export interface OutgoingUpdating {
  outgoingUpdate(client: { id: string }, packet: { cmd?: string; messageId?: number }, cb?: (...args: unknown[]) => void): unknown;
}

/** Patches `persistence.outgoingUpdate` in place; returns the persistence. */
export function acceptPubrecOfUnqueuedMessages<P extends OutgoingUpdating>(persistence: P): P {
  const original = persistence.outgoingUpdate.bind(persistence);
  persistence.outgoingUpdate = (client, packet, cb) => {
    if (cb !== undefined || packet.cmd !== "pubrel") return original(client, packet, cb);
    return Promise.resolve(original(client, packet)).catch((err: Error) => {
      if (err?.message === "no such packet") return undefined;
      throw err;
    });
  };
  return persistence;
}
