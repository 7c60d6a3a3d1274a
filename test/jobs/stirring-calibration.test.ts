/**
 * Stirring with an active `simple_stirring` calibration: the calibration file and the
 * `active_calibrations` cache are real, the job runs on the simulated unit against a broker, and
 * the duty cycles it publishes are checked against what the calibration curve predicts.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { evaluateCurve } from "../../src/calibrations/curves";
import { RpmFromEdges } from "../../src/jobs/rpm";
import { Stirrer } from "../../src/jobs/stirring";
import { loadActiveStirringCalibration } from "../../src/jobs/stirring-calibration";
import { BrokerRig } from "../automations/wire-rig";
import { withBrokers } from "../helpers/broker";

jest.setTimeout(60_000);

/** A calibration file as the original writes it. */
function calibrationYaml(name: string, coefficients: number[], recordedX: number[], y = "RPM"): string {
  return [
    `calibration_name: ${name}`,
    "calibration_type: simple_stirring",
    "calibrated_on_pioreactor_unit: leader",
    "created_at: 2026-11-20T10:00:00.000000Z",
    "curve_data_:",
    "  type: poly",
    `  coefficients: [${coefficients.join(", ")}]`,
    "pwm_hz: 200.0",
    "voltage: 5.0",
    "x: DC %",
    `y: ${y}`,
    "recorded_data:",
    `  x: [${recordedX.join(", ")}]`,
    `  y: [${recordedX.map((x) => coefficients.reduce((acc, c) => acc * x + c, 0)).join(", ")}]`,
    "",
  ].join("\n");
}

for (const broker of withBrokers()) {
  describe(`stirring calibration on the ${broker.name} broker`, () => {
    let rig: BrokerRig;
    let calibrationsDir: string;

    beforeEach(async () => {
      rig = await new BrokerRig(broker.url).open();
      calibrationsDir = path.join(rig.dir, "storage", "calibrations");
    });
    afterEach(async () => {
      await rig.shutdown();
    });

    const activate = (name: string, yaml: string) => {
      fs.mkdirSync(path.join(calibrationsDir, "stirring"), { recursive: true });
      fs.writeFileSync(path.join(calibrationsDir, "stirring", `${name}.yaml`), yaml);
      rig.persistentCache("active_calibrations").set("stirring", name);
    };

    const stirrer = (targetRpm: number, extra: { enableDodgingOd?: boolean } = {}) =>
      new Stirrer(
        rig.deps(),
        {
          backend: rig.sim.backend,
          rpmCalculator: new RpmFromEdges(rig.sim.backend.rpmSensor, rig.clock),
          pwmDutyCycles: rig.intermittentCache("pwm_dc"),
          pwmLocks: rig.intermittentCache("pwm_locks"),
        },
        { targetRpm, calibration: () => loadActiveStirringCalibration(rig.persistentCache("active_calibrations"), calibrationsDir), ...extra },
      );

    const dutyCycles = (from = 0) =>
      rig.published
        .slice(from)
        .filter((p) => p.topic === `${rig.prefix}stirring/duty_cycle`)
        .map((p) => p.payload);

    test("the first duty cycle is 1.05 × the curve's duty cycle for the target RPM; a new target moves 90 % of the way", async () => {
      // A bent curve with two roots for 600 RPM (36.75 % and 163.2 %): the one among the recorded duty cycles is used.
      const coefficients = [-0.1, 20, 0];
      activate("bent", calibrationYaml("bent", coefficients, [10, 30, 50, 70, 90]));
      const job = stirrer(600);
      await rig.drive(job.start());
      await rig.run(2_000);

      const [kick, first] = dutyCycles();
      expect(kick).toBe("100");
      const curveDc = Number(first) / 1.05;
      expect(curveDc).toBeGreaterThan(10);
      expect(curveDc).toBeLessThan(90);
      expect(evaluateCurve({ type: "poly", coefficients }, curveDc)).toBeCloseTo(600, 3);
      expect(rig.logs.messages("DEBUG")).toContain("Found active stirring calibration: bent.");

      // set_target_rpm: 1.05 × (current + 0.9 × (curve(rpm) − current)).
      const from = rig.published.length;
      const current = Number(first);
      await job.setTargetRpm(800);
      await rig.run(100);
      const curveFor800 = (20 - Math.sqrt(400 - 320)) / 0.2;
      expect(Number(dutyCycles(from).at(-1))).toBeCloseTo(1.05 * (current + 0.9 * (curveFor800 - current)), 4);
      await rig.drive(job.stop("test"));
    });

    test("without RPM feedback (--use-rpm 0) the calibration is not used, as in the original", async () => {
      activate("linear", calibrationYaml("linear", [12, 150], [20, 40, 60]));
      const job = new Stirrer(
        rig.deps(),
        { backend: rig.sim.backend, pwmDutyCycles: rig.intermittentCache("pwm_dc"), pwmLocks: rig.intermittentCache("pwm_locks") },
        { calibration: () => loadActiveStirringCalibration(rig.persistentCache("active_calibrations"), calibrationsDir) },
      );
      await rig.drive(job.start());
      await rig.run(2_000);
      expect(dutyCycles()).toEqual(["100", "30.0"]);
      await rig.drive(job.stop("test"));
    });

    test("without an active calibration the start uses initial_duty_cycle, and dodging warns", async () => {
      const job = stirrer(500, { enableDodgingOd: true });
      await rig.drive(job.start());
      await rig.drive(job.stop("test"));
      expect(rig.logs.messages("WARNING")).toContain(
        "OD dodging is enabled without a stirring calibration. This can increase OD reading noise. Run a stirring calibration for better stability.",
      );
      expect(rig.logs.messages("DEBUG").some((m) => m.startsWith("Found active stirring calibration"))).toBe(false);

      const plain = stirrer(500);
      await rig.drive(plain.start());
      await rig.run(2_000);
      expect(dutyCycles().slice(-2)).toEqual(["100", "30.0"]);
      await rig.drive(plain.stop("test"));
    });

    test("a calibration whose y is not RPM, or whose file is gone, stops the start with a clear error", async () => {
      activate("volts", calibrationYaml("volts", [0.01, 0], [10, 90], "Voltage"));
      await expect(rig.drive(stirrer(500).start())).rejects.toThrow("Calibration volts has wrong type.");

      rig.persistentCache("active_calibrations").set("stirring", "gone");
      await expect(rig.drive(stirrer(500).start())).rejects.toThrow(/Calibration gone is active for stirring but its file .*gone\.yaml does not exist/);
    });
  });
}
