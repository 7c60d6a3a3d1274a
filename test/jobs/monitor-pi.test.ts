/**
 * The monitor on a Pi backend: the PCB LED (GPIO 23 on HAT 1.2) blinks the original's patterns on
 * the job's clock, the button (GPIO 4) publishes `button_down` on press and release, and stopping
 * frees both lines. The Pi backend is real; only the lgpio binding is the fake.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { loadHardwareMap } from "../../src/hardware/hardware-map";
import { LG_BOTH_EDGES, LG_SET_PULL_DOWN } from "../../src/hardware/pi/pcb-led-button";
import { createPiBackend, type PiHardwareBackend } from "../../src/hardware/pi/pi-backend";
import { buttonControlsEnabled, Monitor } from "../../src/jobs/monitor";
import { errorCodeBlinkPattern, okBlinkPattern, pcbLedMonitorSystem } from "../../src/jobs/monitor-led";
import type { Clock } from "../../src/util/clock";
import { FAKE_SYSTEM } from "../automations/helpers/rig";
import { BrokerRig } from "../automations/wire-rig";
import { withBrokers } from "../helpers/broker";
import { FakeI2cBus } from "../hardware/fake-i2c-bus";
import { FakeLgpio } from "../hardware/fake-lgpio";

jest.setTimeout(60_000);

const LED = 23;
const BUTTON = 4;

/** The fake binding, also noting when (on the job's clock) each level was written to a line. */
class TimedLgpio extends FakeLgpio {
  readonly writes: { gpio: number; level: boolean; at: number }[] = [];
  constructor(private readonly clock: Clock) {
    super();
  }
  override gpioWrite(handle: number, gpio: number, level: boolean): void {
    super.gpioWrite(handle, gpio, level);
    this.writes.push({ gpio, level, at: this.clock.now() });
  }
}

/** Durations between consecutive LED writes, and the levels written. */
function ledTrace(writes: TimedLgpio["writes"]): { levels: boolean[]; gaps: number[] } {
  const led = writes.filter((w) => w.gpio === LED);
  return { levels: led.map((w) => w.level), gaps: led.slice(1).map((w, i) => w.at - led[i].at) };
}

test("blink patterns are the original's: OK = 4 × (.14 on, .14 off, .14 on, .45 off); code n = 2 s, .25, n × (.25, .25), 5 s dark", () => {
  expect(okBlinkPattern()).toEqual([140, 140, 140, 450, 140, 140, 140, 450, 140, 140, 140, 450, 140, 140, 140, 450]);
  expect(errorCodeBlinkPattern(2)).toEqual([2000, 250, 250, 250, 250, 5250]);
});

test("enable_button: auto is off only on single-core Pis; bad values are refused", () => {
  expect(buttonControlsEnabled("auto", 4)).toBe(true);
  expect(buttonControlsEnabled(" AUTO ", 1)).toBe(false);
  expect(buttonControlsEnabled("false", 4)).toBe(false);
  expect(buttonControlsEnabled("on", 1)).toBe(true);
  expect(() => buttonControlsEnabled("maybe", 4)).toThrow("enable_button must be one of: auto, true, false.");
});

for (const broker of withBrokers()) {
  describe(`monitor with the PCB LED and button on the ${broker.name} broker`, () => {
    let dir: string;
    let rig: BrokerRig;
    let lg: TimedLgpio;
    let backend: PiHardwareBackend;

    beforeEach(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "monitor-pi-"));
      fs.writeFileSync(path.join(dir, "model"), "Raspberry Pi 4 Model B Rev 1.4\0");
      rig = await new BrokerRig(broker.url, { experiment: "$experiment" }).open();
      lg = new TimedLgpio(rig.clock);
      const map = loadHardwareMap({ hatVersion: "1.2", modelName: "pioreactor_40ml", modelVersion: "1.5" });
      backend = await createPiBackend({ map, clock: rig.clock, i2c: new FakeI2cBus(), deviceTreeRoot: dir, sysfsPwmRoot: path.join(dir, "pwm"), firmware: [0, 5], lgpio: lg });
    });
    afterEach(async () => {
      await rig.shutdown();
      await backend.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    const startMonitor = async (): Promise<Monitor> => {
      const system = pcbLedMonitorSystem(FAKE_SYSTEM, (opts) => backend.pcbLedButton(opts), rig.clock);
      const monitor = new Monitor(rig.deps(), { system, bioreactor: rig.bioreactor, selfCheckIntervalHours: 0, cpuCount: 4 });
      await rig.drive(monitor.start());
      return monitor;
    };

    test("the LED is claimed low, blinks OK on start, and an error-code request blinks the code", async () => {
      const monitor = await startMonitor();
      expect(lg.calls).toContain(`gpioClaimOutput(${LED}, flags=0, level=false)`);
      // Start-up: the "I'm here" blink, on then off 8 times, timed as the pattern says.
      const start = ledTrace(lg.writes);
      expect(start.levels).toEqual(Array.from({ length: 16 }, (_, i) => i % 2 === 0));
      expect(start.gaps).toEqual(okBlinkPattern().slice(0, -1));

      await rig.run(1_000);
      lg.writes.length = 0;
      const ui = await rig.connectRecorded({ clientIdBase: "ui" });
      await ui.publish(`pioreactor/${rig.unit}/exp1/monitor/flicker_led_with_error_code`, "3", { qos: 1 });
      await rig.run(10_000);
      const code = ledTrace(lg.writes);
      expect(code.levels).toEqual(Array.from({ length: 8 }, (_, i) => i % 2 === 0));
      expect(code.gaps).toEqual([2000, 250, 250, 250, 250, 250, 250]);

      // A request while a pattern plays is dropped, so codes never interleave.
      lg.writes.length = 0;
      await ui.publish(`pioreactor/${rig.unit}/exp1/monitor/flicker_led_with_error_code`, "1", { qos: 1 });
      await rig.run(500);
      await ui.publish(`pioreactor/${rig.unit}/exp1/monitor/flicker_led_response_okay`, "", { qos: 1 });
      await rig.run(10_000);
      expect(ledTrace(lg.writes).levels).toEqual([true, false, true, false]);
      await rig.drive(monitor.stop("test"));
    });

    test("a press then a release publish button_down True then False and light the LED; stop frees both lines", async () => {
      const monitor = await startMonitor();
      expect(lg.alertFlags.get(BUTTON)).toEqual({ flags: LG_SET_PULL_DOWN, edges: LG_BOTH_EDGES });
      expect(lg.lines.get(LED)).toBe("output");
      const buttonTopic = `${rig.prefix}monitor/button_down`;
      const stateTopic = `${rig.prefix}monitor/$state`;
      await rig.run(1_000);
      const from = rig.received.length;

      lg.edge(BUTTON, 1, 1_763_700_000_000_000_000n);
      await rig.run(100);
      expect(lg.levels.get(LED)).toBe(true);
      lg.edge(BUTTON, 0, 1_763_700_000_400_000_000n);
      await rig.run(100);
      expect(lg.levels.get(LED)).toBe(false);

      const seenSince = () =>
        rig.received
          .slice(from)
          .filter((m) => m.topic === buttonTopic || m.topic === stateTopic)
          .map((m) => `${m.topic.slice(rig.prefix.length)} ${m.payload}`);
      // The job sends its publishes one QoS 2 handshake after another: wait (real time) for the last.
      const deadline = Date.now() + 5_000;
      while (seenSince().length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      const seen = seenSince();
      expect(seen).toEqual(["monitor/button_down True", "monitor/$state ready", "monitor/button_down False"]);
      expect(rig.published.filter((p) => p.topic === buttonTopic).every((p) => p.qos === 2 && p.retain)).toBe(true);

      await rig.drive(monitor.stop("test"));
      expect(lg.lines.has(LED)).toBe(false);
      expect(lg.lines.has(BUTTON)).toBe(false);
      expect(lg.calls.slice(-3)).toEqual([`gpioWrite(${LED}, false)`, `gpioFree(${LED})`, `gpioFree(${BUTTON})`]);
      // Edges after stop publish nothing.
      const before = rig.published.length;
      lg.edge(BUTTON, 1, 1_763_700_001_000_000_000n);
      await rig.run(100);
      expect(rig.published.length).toBe(before);
    });

    test("a LED line another process holds leaves the monitor running without LED and button, as in the original", async () => {
      lg.busy.add(LED);
      const monitor = await startMonitor();
      expect(monitor.state).toBe("ready");
      expect(rig.logs.messages("DEBUG").some((m) => m.startsWith("Skipping LED / button controls: setup failed. Claiming the PCB LED output on GPIO 23"))).toBe(true);
      expect(lg.lines.has(BUTTON)).toBe(false);
      await rig.drive(monitor.stop("test"));
    });

    test("enable_button=false claims the LED but leaves the button line alone", async () => {
      const own = await new BrokerRig(broker.url, { experiment: "$experiment", configOverrides: [["monitor.config", "enable_button", "false"]] }).open();
      try {
        const system = pcbLedMonitorSystem(FAKE_SYSTEM, (opts) => backend.pcbLedButton(opts), own.clock);
        const monitor = new Monitor(own.deps(), { system, bioreactor: own.bioreactor, selfCheckIntervalHours: 0, cpuCount: 4 });
        await own.drive(monitor.start());
        expect(lg.lines.get(LED)).toBe("output");
        expect(lg.lines.has(BUTTON)).toBe(false);
        expect(own.logs.messages("DEBUG")).toContain("Button controls disabled by monitor.config.enable_button.");
        await own.drive(monitor.stop("test"));
        expect(lg.lines.has(LED)).toBe(false);
      } finally {
        await own.shutdown();
      }
    });
  });
}
