/**
 * A job on the Pi backend with only the native edges faked: the thermostat reads the TMP1075 over
 * the (fake, recording) I²C bus and drives the heater on GPIO 18 through lg's software PWM (a fake
 * of the `lgpio` binding), as it would on a HAT 1.2. Before lg support GPIO 18 was refused.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Thermostat } from "../../../src/automations/temperature/thermostat";
import { loadHardwareMap } from "../../../src/hardware/hardware-map";
import { createPiBackend } from "../../../src/hardware/pi/pi-backend";
import { Rig } from "../../automations/helpers/rig";
import { FakeI2cBus, registerDevice } from "../fake-i2c-bus";
import { FakeLgpio } from "../fake-lgpio";

test("the thermostat heats through lg software PWM on GPIO 18 at 16 Hz and releases the line when it stops", async () => {
  const rig = new Rig();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pi-jobs-"));
  try {
    fs.writeFileSync(path.join(dir, "model"), "Raspberry Pi 4 Model B Rev 1.4\0");
    // TMP1075 at 0x4F reads 25.0 ℃ (0x190 × 0.0625), below the 30 ℃ target.
    const bus = new FakeI2cBus().device(0x4f, registerDevice({ 0: [0x19, 0x00] }));
    const lg = new FakeLgpio();
    const map = loadHardwareMap({ hatVersion: "1.2", modelName: "pioreactor_40ml", modelVersion: "1.5" });
    const backend = await createPiBackend({ map, clock: rig.clock, i2c: bus, lgpio: lg, deviceTreeRoot: dir, sysfsPwmRoot: path.join(dir, "pwm"), firmware: [0, 5] });
    const job = await new Thermostat(rig.deps(), rig.temperatureContext({ backend }), { target_temperature: "30" }).start();
    await rig.run(1_000_000, 5_000);

    expect(lg.calls).toContain("gpioClaimOutput(18, flags=0, level=false)");
    const duties = lg.calls.filter((c) => c.startsWith("txPwm(18, 16 Hz")).map((c) => Number(/, ([\d.]+)%\)$/.exec(c)?.[1]));
    // On (PID steps up while the PCB reads cold), off for each inference's cooling curve, on again.
    expect(Math.max(...duties)).toBeGreaterThan(0);
    expect(duties).toContain(0);
    expect(duties.at(-1)).toBe(job.heaterDutyCycle);
    expect(lg.pwm.get(18)).toEqual({ hz: 16, dc: job.heaterDutyCycle });
    const pwms = rig.bus.log.filter((m) => m.topic.endsWith("/pwms/dc") && m.payload.includes('"18"'));
    expect(pwms.length).toBeGreaterThan(0);
    // Every temperature came from the bus: 6 reads per sample at 0x4F.
    expect(bus.transfers.filter((t) => t.op === "writeThenRead" && t.address === 0x4f).length).toBeGreaterThanOrEqual(6 * 21);

    await job.stop("test");
    expect(lg.lines.has(18)).toBe(false);
    expect(lg.levels.get(18)).toBe(false);
    await backend.close();
  } finally {
    rig.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);
