/**
 * Automation events (`latest_event`, struct AutomationEvent): the original's event classes are
 * only tags, so here an event is plain data with the class name in `event_name`.
 */
import type { AutomationEvent } from "../pubsub/structs";

export type AutomationEventName =
  | "NoEvent"
  | "DilutionEvent"
  | "DosingStarted"
  | "DosingStopped"
  | "AddMediaEvent"
  | "AddAltMediaEvent"
  | "ChangedLedIntensity"
  | "ErrorOccurred"
  | "UpdatedHeaterDC";

export function automationEvent(
  name: AutomationEventName | (string & {}),
  message: string | null = null,
  data: Record<string, unknown> | null = null,
): AutomationEvent {
  return { event_name: name, message, data };
}

/** The line logged when an automation run produces an event. */
export function displayEvent(event: AutomationEvent): string {
  return event.message ? `${event.event_name}: ${event.message}` : event.event_name;
}
