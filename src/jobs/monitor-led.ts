/**
 * The monitor's host on a Pi with a HAT: the base host's numbers plus the PCB LED's blink
 * patterns and the button. Patterns are the original's, timed on the job's clock:
 *   OK ("I'm here"): 4 × (on 0.14 s, off 0.14 s, on 0.14 s, off 0.45 s);
 *   error code n: on 2 s, off 0.25 s, n × (on 0.25 s, off 0.25 s), then 5 s dark.
 * A request that arrives while a pattern is playing is dropped, as in the original, so blinks
 * never interleave into an unreadable code.
 */
import type { PcbLedButton } from "../hardware/pi/pcb-led-button";
import type { Clock } from "../util/clock";
import type { MonitorSystem } from "./monitor";

/** On/off durations in ms, starting with "on". */
export function okBlinkPattern(): number[] {
  return Array.from({ length: 4 }, () => [140, 140, 140, 450]).flat();
}

/** On/off durations in ms, starting with "on"; the final 5 s pause is dark. */
export function errorCodeBlinkPattern(code: number): number[] {
  const pulses = Array.from({ length: Math.max(0, Math.trunc(code)) }, () => [250, 250]).flat();
  // The last "off" of the pattern absorbs the original's closing 5 s sleep.
  const pattern = [2000, 250, ...pulses];
  pattern[pattern.length - 1] += 5000;
  return pattern;
}

/** `open` claims the lines when the monitor sets up; until then (or if it fails) the LED does nothing. */
export function pcbLedMonitorSystem(base: MonitorSystem, open: (opts: { button: boolean }) => PcbLedButton, clock: Clock): MonitorSystem {
  let pcb: PcbLedButton | undefined;
  let ledInUse = false;

  const play = async (pattern: number[]): Promise<void> => {
    if (ledInUse || !pcb) return;
    ledInUse = true;
    try {
      for (let i = 0; i < pattern.length; i++) {
        // Released mid-pattern (the job stopped): stop blinking rather than keep timers alive.
        if (!pcb) break;
        pcb.setLed(i % 2 === 0);
        await clock.sleep(pattern[i]);
      }
    } finally {
      ledInUse = false;
    }
  };

  return {
    ...base,
    flickerOk: () => play(okBlinkPattern()),
    flickerErrorCode: (code) => play(errorCodeBlinkPattern(code)),
    openLedAndButton: (opts) => {
      pcb = open(opts);
    },
    setLed: (on) => pcb?.setLed(on),
    onButton: (listener) => pcb?.onButton(listener) ?? (() => false),
    release: async () => {
      const closing = pcb;
      pcb = undefined;
      await closing?.close();
    },
  };
}
