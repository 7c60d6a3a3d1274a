import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { hardwarePwmChip, SysfsPwm } from "../../../src/hardware/pi/sysfs-pwm";
import { VirtualClock } from "../../../src/util/clock";

function makeChip(root: string, chip: number, withChannel?: number): string {
  const chipDir = path.join(root, `pwmchip${chip}`);
  fs.mkdirSync(chipDir, { recursive: true });
  for (const f of ["export", "unexport"]) fs.writeFileSync(path.join(chipDir, f), "");
  if (withChannel !== undefined) makeChannel(chipDir, withChannel);
  return chipDir;
}

function makeChannel(chipDir: string, channel: number): void {
  const dir = path.join(chipDir, `pwm${channel}`);
  fs.mkdirSync(dir, { recursive: true });
  for (const f of ["period", "duty_cycle", "enable"]) fs.writeFileSync(path.join(dir, f), "0");
}

const read = (file: string) => fs.readFileSync(file, "utf8");

async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe("sysfs hardware PWM", () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "pwm-"));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  test("chip selection: pwmchip2 only on a Pi 5 with kernel 6.6", () => {
    expect(hardwarePwmChip("Raspberry Pi 5 Model B Rev 1.0", "6.6.51+rpt-rpi-2712")).toBe(2);
    expect(hardwarePwmChip("Raspberry Pi 5 Model B Rev 1.0", "6.12.25+rpt-rpi-2712")).toBe(0);
    expect(hardwarePwmChip("Raspberry Pi 4 Model B Rev 1.4", "6.6.51+rpt-rpi-v8")).toBe(0);
  });

  test("start writes duty 0 before period, then duty and enable; GPIO 13 is channel 1", async () => {
    const chipDir = makeChip(root, 0, 1);
    const writes: string[] = [];
    const pwm = new SysfsPwm({
      pin: 13,
      frequencyHz: 250,
      chip: 0,
      clock: new VirtualClock(0),
      root,
      writeFile: async (file, data) => {
        writes.push(`${path.relative(root, file)}=${data}`);
        fs.writeFileSync(file, data);
      },
    });
    await pwm.start(25);
    expect(writes).toEqual(["pwmchip0/pwm1/duty_cycle=0", "pwmchip0/pwm1/period=4000000", "pwmchip0/pwm1/duty_cycle=1000000", "pwmchip0/pwm1/enable=1"]);
    await pwm.setDutyCycle(50);
    expect(read(path.join(chipDir, "pwm1", "duty_cycle"))).toBe("2000000");
    writes.length = 0;
    await pwm.setFrequency(100);
    expect(writes).toEqual(["pwmchip0/pwm1/duty_cycle=0", "pwmchip0/pwm1/period=10000000", "pwmchip0/pwm1/duty_cycle=5000000"]);
    await pwm.cleanup();
    expect(read(path.join(chipDir, "pwm1", "enable"))).toBe("0");
    expect(read(path.join(chipDir, "pwm1", "duty_cycle"))).toBe("0");
    expect(read(path.join(chipDir, "unexport"))).toBe("1");
  });

  test("exports the channel and waits for the kernel/udev to create its files", async () => {
    const chipDir = makeChip(root, 2);
    const clock = new VirtualClock(0);
    const pwm = new SysfsPwm({ pin: 12, frequencyHz: 200, chip: 2, clock, root });
    let done = false;
    const started = pwm.start(10).finally(() => {
      done = true;
    });
    // Real file I/O runs on libuv's thread pool: wait in real time for the export write.
    await waitFor(() => read(path.join(chipDir, "export")) === "0");
    makeChannel(chipDir, 0);
    await waitFor(async () => {
      await clock.advance(50);
      return done;
    });
    await started;
    expect(read(path.join(chipDir, "pwm0", "period"))).toBe("5000000");
    expect(read(path.join(chipDir, "pwm0", "duty_cycle"))).toBe("500000");
    expect(pwm.dutyCycle).toBe(10);
  });

  test("clear errors: pin without hardware PWM, missing overlay, duty before start", async () => {
    const clock = new VirtualClock(0);
    expect(() => new SysfsPwm({ pin: 17, frequencyHz: 200, chip: 0, clock, root })).toThrow(/only GPIO 12 .* and 13/);
    const pwm = new SysfsPwm({ pin: 12, frequencyHz: 200, chip: 0, clock, root });
    await expect(pwm.start(10)).rejects.toThrow(/pwm-2chan/);
    await expect(pwm.setDutyCycle(10)).rejects.toThrow(/start\(\)/);
    await expect(pwm.setDutyCycle(0)).resolves.toBeUndefined();
  });
});
