import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { HardwareError } from "../../../src/hardware/errors";
import { loadHardwareMap } from "../../../src/hardware/hardware-map";
import { headerGpiochip, LG_FALLING_EDGE, LG_SET_PULL_UP, LgpioChip, LgpioEdgeSource, LgpioSoftwarePwm, loadLgpio } from "../../../src/hardware/pi/lgpio";
import { createPiBackend, pwmDriverForPin } from "../../../src/hardware/pi/pi-backend";
import { SysfsPwm } from "../../../src/hardware/pi/sysfs-pwm";
import { VirtualClock } from "../../../src/util/clock";
import { FakeI2cBus } from "../fake-i2c-bus";
import { FakeLgpio } from "../fake-lgpio";

const missingPackage = (id: string): never => {
  const err = new Error(`Cannot find module '${id}'`) as NodeJS.ErrnoException;
  err.code = "MODULE_NOT_FOUND";
  throw err;
};

describe("lg software PWM", () => {
  test("start claims the line low, then each duty cycle change is one txPwm at the same frequency", async () => {
    const lg = new FakeLgpio();
    const pwm = new LgpioSoftwarePwm(new LgpioChip(() => lg, 0), 17, 200);
    expect(lg.calls).toEqual([]); // nothing is touched before start
    await pwm.start(30);
    expect(lg.calls).toEqual(["gpiochipOpen(0)", "gpioClaimOutput(17, flags=0, level=false)", "txPwm(17, 200 Hz, 30%)"]);
    expect(lg.pwm.get(17)).toEqual({ hz: 200, dc: 30 });
    await pwm.setDutyCycle(55.5);
    await pwm.setDutyCycle(150);
    expect(lg.calls.slice(3)).toEqual(["txPwm(17, 200 Hz, 55.5%)", "txPwm(17, 200 Hz, 100%)"]);
    expect(pwm.dutyCycle).toBe(100);
  });

  test("stop sends 0 % and forces the line low; cleanup releases it; the chip closes once", async () => {
    const lg = new FakeLgpio();
    const chip = new LgpioChip(() => lg, 0);
    const pwm = new LgpioSoftwarePwm(chip, 18, 16);
    await pwm.start(40);
    await pwm.stop();
    expect(lg.calls.slice(-2)).toEqual(["txPwm(18, 16 Hz, 0%)", "gpioWrite(18, false)"]);
    expect(lg.levels.get(18)).toBe(false);
    expect(lg.pwm.has(18)).toBe(false);
    expect(pwm.dutyCycle).toBe(0);
    // Stopped: setting 0 is a no-op, anything else needs start() again.
    await pwm.setDutyCycle(0);
    await expect(pwm.setDutyCycle(10)).rejects.toThrow("call start() before setting a duty cycle");
    await pwm.start(20);
    await pwm.cleanup();
    expect(lg.lines.has(18)).toBe(false);
    expect(lg.calls.slice(-3)).toEqual(["txPwm(18, 16 Hz, 0%)", "gpioWrite(18, false)", "gpioFree(18)"]);
    await pwm.cleanup(); // idempotent
    chip.close();
    chip.close();
    expect(lg.calls.filter((c) => c.startsWith("gpiochipClose"))).toHaveLength(1);
  });

  test("two pins share one open chip", async () => {
    const lg = new FakeLgpio();
    const chip = new LgpioChip(() => lg, 4);
    await new LgpioSoftwarePwm(chip, 17, 200).start(10);
    await new LgpioSoftwarePwm(chip, 16, 250).start(100);
    expect(lg.calls.filter((c) => c.startsWith("gpiochipOpen"))).toEqual(["gpiochipOpen(4)"]);
    expect(lg.pwm.get(16)).toEqual({ hz: 250, dc: 100 });
  });

  test("bad frequency and a busy line are refused with the pin and the reason", async () => {
    const lg = new FakeLgpio();
    const chip = new LgpioChip(() => lg, 0);
    expect(() => new LgpioSoftwarePwm(chip, 17, 20_000)).toThrow("Software PWM on GPIO 17: frequency must be 0.1..10000 Hz, got 20000.");
    lg.busy.add(17);
    const err = await new LgpioSoftwarePwm(chip, 17, 200).start(30).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HardwareError);
    expect((err as Error).message).toMatch(/^Claiming output on GPIO 17 \(lgpio\): GPIO busy\. Another process/);
  });
});

describe("lg edge alerts (hall sensor)", () => {
  test("falling edges arrive as millisecond timestamps with microsecond precision; rising edges and other pins are ignored", async () => {
    const lg = new FakeLgpio();
    const edges = new LgpioEdgeSource(new LgpioChip(() => lg, 0), 21);
    const seen: number[] = [];
    const off = edges.onEdge((t) => seen.push(t));
    expect(lg.alertFlags.get(21)).toEqual({ flags: LG_SET_PULL_UP, edges: LG_FALLING_EDGE });
    lg.edge(21, 0, 1_763_700_000_123_456_789n);
    lg.edge(21, 1, 1_763_700_000_125_000_000n);
    lg.edge(21, 0, 1_763_700_000_243_456_000n);
    expect(seen).toEqual([1_763_700_000_123.456, 1_763_700_000_243.456]);
    // 120 ms between falling edges = 500 RPM with one pulse per revolution.
    expect(60_000 / (seen[1] - seen[0])).toBeCloseTo(500, 6);
    off();
    lg.edge(21, 0, 1_763_700_000_363_456_000n);
    expect(seen).toHaveLength(2);
    await edges.close();
    expect(lg.lines.has(21)).toBe(false);
  });
});

describe("Pi backend PWM selection", () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "pi-backend-"));
    fs.mkdirSync(path.join(dir, "dt"));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const map = loadHardwareMap({ hatVersion: "1.2", modelName: "pioreactor_40ml", modelVersion: "1.5" });
  const backendOn = (model: string, extra: Partial<Parameters<typeof createPiBackend>[0]>) => {
    fs.writeFileSync(path.join(dir, "dt", "model"), `${model}\0`);
    return createPiBackend({ map, clock: new VirtualClock(0), i2c: new FakeI2cBus(), deviceTreeRoot: path.join(dir, "dt"), sysfsPwmRoot: path.join(dir, "pwm"), firmware: [0, 5], ...extra });
  };

  test("every HAT channel gets a driver: sysfs on GPIO 12/13, lg software PWM on 17/16/18 (gpiochip 4 on a Pi 5)", async () => {
    expect([12, 13, 16, 17, 18].map(pwmDriverForPin)).toEqual(["sysfs", "sysfs", "lgpio", "lgpio", "lgpio"]);
    const lg = new FakeLgpio();
    const backend = await backendOn("Raspberry Pi 5 Model B Rev 1.0", { lgpio: lg });
    expect(headerGpiochip("Raspberry Pi 4 Model B Rev 1.4")).toBe(0);
    const stirring = backend.pwm("1", 200);
    const media = backend.pwm("2", 250);
    const altMedia = backend.pwm("3", 250);
    const waste = backend.pwm("4", 250);
    const heater = backend.heater();
    expect([stirring, media, altMedia, waste, heater].map((p) => [p.pin, p.frequencyHz])).toEqual([[17, 200], [13, 250], [16, 250], [12, 250], [18, 16]]);
    expect(media).toBeInstanceOf(SysfsPwm);
    expect(waste).toBeInstanceOf(SysfsPwm);
    for (const p of [stirring, altMedia, heater]) expect(p).toBeInstanceOf(LgpioSoftwarePwm);
    await stirring.start(30);
    await heater.start(0);
    await heater.setDutyCycle(62.25);
    await altMedia.start(100);
    expect(lg.calls[0]).toBe("gpiochipOpen(4)");
    expect(Object.fromEntries(lg.pwm)).toEqual({ 17: { hz: 200, dc: 30 }, 18: { hz: 16, dc: 62.25 }, 16: { hz: 250, dc: 100 } });
    await backend.close();
    expect(lg.calls.at(-1)).toBe("gpiochipClose(0)");
  });

  test("without the lgpio package, I²C and hardware PWM still work; software PWM and the hall sensor say what to install", async () => {
    const backend = await backendOn("Raspberry Pi 4 Model B Rev 1.4", { requireFn: missingPackage });
    expect(backend.pwm("4", 250)).toBeInstanceOf(SysfsPwm);
    const stirring = backend.pwm("1", 200);
    const err = await stirring.start(30).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HardwareError);
    const message = (err as Error).message;
    expect(message).toContain("need the optional native package 'lgpio'");
    expect(message).toContain("Cannot find module 'lgpio'");
    expect(message).toContain("sudo apt install liblgpio-dev");
    expect(message).toContain("`npm install lgpio`");
    expect(() => backend.rpmSensor.onEdge(() => {})).toThrow("optional native package 'lgpio'");
    await backend.close();
  });

  test("loadLgpio returns the package when it loads", () => {
    const lg = new FakeLgpio();
    expect(loadLgpio((id) => (id === "lgpio" ? lg : missingPackage(id)))).toBe(lg);
  });
});
