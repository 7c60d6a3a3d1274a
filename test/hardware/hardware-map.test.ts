import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { HardwareDescriptionError } from "../../src/hardware/errors";
import { adcAddresses, loadHardwareMap, photodiodeInputs } from "../../src/hardware/hardware-map";

describe("hardware map from descriptions", () => {
  let unitDir: string;
  beforeEach(() => {
    unitDir = fs.mkdtempSync(path.join(os.tmpdir(), "hw-"));
  });
  afterEach(() => fs.rmSync(unitDir, { recursive: true, force: true }));

  const write = (rel: string, text: string) => {
    const file = path.join(unitDir, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
    return file;
  };

  test("HAT 1.2 + 40 ml v1.5: model ADS1114s override the MCU photodiode inputs", () => {
    const map = loadHardwareMap({ hatVersion: "1.2", modelName: "pioreactor_40ml", modelVersion: "1.5" });
    expect(map.pwm.channelToPin).toEqual({ "1": 17, "2": 13, "3": 16, "4": 12, "5": 18 });
    expect(map.pwm.heaterChannel).toBe("5");
    expect(map.gpio).toEqual({ pcbLedPin: 23, pcbButtonPin: 4, hallSensorPin: 21, sdaPin: 2, sclPin: 3 });
    expect(map.adc["pd1"]).toEqual({ name: "pd1", driver: "ads1114", address: 0x48, channel: 0 });
    expect(map.adc["pd2"]).toEqual({ name: "pd2", driver: "ads1114", address: 0x49, channel: 0 });
    expect(map.adc["aux"]).toEqual({ name: "aux", driver: "pico", address: 0x2c, channel: 1 });
    expect(map.dac).toEqual({ address: 0x2c, driver: "pico" });
    expect(map.temp.address).toBe(0x4f);
    expect(adcAddresses(map)).toEqual([0x2c, 0x48, 0x49]);
  });

  test("XR models have four photodiodes; legacy HAT 1.0 uses the ADS1115 and DAC43608", () => {
    const xr = loadHardwareMap({ hatVersion: "1.2", modelName: "pioreactor_20ml_XR", modelVersion: "1.5" });
    expect(Object.keys(photodiodeInputs(xr)).sort()).toEqual(["1", "2", "3", "4"]);
    expect(photodiodeInputs(xr)["4"].address).toBe(0x48);
    const legacy = loadHardwareMap({ hatVersion: "1.0", modelName: "pioreactor_20ml", modelVersion: "1.0" });
    expect(legacy.adc["pd1"]).toEqual({ name: "pd1", driver: "ads1115", address: 0x48, channel: 1 });
    expect(legacy.dac).toEqual({ address: 0x49, driver: "dac43608" });
    expect(legacy.gpio.hallSensorPin).toBe(25);
  });

  test("the unit's own files (original layout) override built-ins; DAC driver follows the HAT when unstated", () => {
    write("hats/1.2/gpio.yaml", "hall_sensor_pin: 26\n");
    write("hats/1.2/dac.yaml", "address: 0x2D\n");
    write("models/pioreactor_40ml/1.5/adc.yaml", "pd2:\n  driver: ads1114\n  address: 0x4A\n  channel: 0\n");
    const map = loadHardwareMap({ hatVersion: "1.2", modelName: "pioreactor_40ml", modelVersion: "1.5", unitHardwareDir: unitDir });
    expect(map.gpio.hallSensorPin).toBe(26);
    expect(map.gpio.pcbLedPin).toBe(23);
    expect(map.dac).toEqual({ address: 0x2d, driver: "pico" });
    expect(map.adc["pd2"].address).toBe(0x4a);
    expect(map.sources.some((s) => s.endsWith(path.join("hats", "1.2", "gpio.yaml")))).toBe(true);
  });

  test("unit files alone are enough (as the original's OS image provides them)", () => {
    write("hats/1.2/pwm.yaml", 'heater_pwm_channel: "5"\npwm_to_pin: {"1": 17, "5": 18}\n');
    write("hats/1.2/gpio.yaml", "pcb_led_pin: 23\npcb_button_pin: 4\nhall_sensor_pin: 21\n");
    write("hats/1.2/adc.yaml", "pd1: {driver: pico, address: 0x2C, channel: 2}\n");
    write("hats/1.2/dac.yaml", "address: 0x2C\n");
    write("hats/1.2/temp.yaml", "address: 0x4F\n");
    const map = loadHardwareMap({ hatVersion: "1.2", modelName: "x", modelVersion: "1", unitHardwareDir: unitDir, builtinDir: null });
    expect(map.pwm.channelToPin["5"]).toBe(18);
    expect(map.adc["pd1"].driver).toBe("pico");
  });

  test("errors name the files: malformed YAML, missing key, unknown HAT", () => {
    const bad = write("hats/1.2/pwm.yaml", "pwm_to_pin: [1, 2\n");
    expect(() => loadHardwareMap({ hatVersion: "1.2", modelName: "m", modelVersion: "1", unitHardwareDir: unitDir })).toThrow(
      new RegExp(`${bad.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} is not valid YAML`),
    );
    fs.rmSync(bad);

    const temp = write("hats/1.2/temp.yaml", "adress: 0x4F\n");
    try {
      loadHardwareMap({ hatVersion: "1.2", modelName: "m", modelVersion: "1", unitHardwareDir: unitDir, builtinDir: null });
      throw new Error("should have thrown");
    } catch (err) {
      expect(err).toBeInstanceOf(HardwareDescriptionError);
      // pwm is checked first and has no file at all here
      expect((err as Error).message).toMatch(/missing key 'pwm_to_pin'/);
      expect((err as Error).message).toMatch(/hats\/1\.2\/pwm\.yaml/);
    }
    write("hats/1.2/pwm.yaml", 'heater_pwm_channel: "5"\npwm_to_pin: {"5": 18}\n');
    write("hats/1.2/gpio.yaml", "pcb_led_pin: 23\npcb_button_pin: 4\nhall_sensor_pin: 21\n");
    write("hats/1.2/dac.yaml", "address: 0x2C\n");
    expect(() =>
      loadHardwareMap({ hatVersion: "1.2", modelName: "m", modelVersion: "1", unitHardwareDir: unitDir, builtinDir: null }),
    ).toThrow(new RegExp(`missing key 'address'.*${path.basename(path.dirname(temp))}/temp\\.yaml`));

    expect(() => loadHardwareMap({ hatVersion: "9.9", modelName: "m", modelVersion: "1" })).toThrow(
      /No hardware description for HAT version 9\.9: .*hats\/9\.9\.yaml/,
    );
  });

  test("rejects a heater channel that has no pin and an unknown ADC driver", () => {
    const pwm = write("hats/1.2/pwm.yaml", 'heater_pwm_channel: "6"\n');
    expect(() => loadHardwareMap({ hatVersion: "1.2", modelName: "m", modelVersion: "1", unitHardwareDir: unitDir })).toThrow(
      /heater_pwm_channel' is '6'/,
    );
    fs.rmSync(pwm);
    write("hats/1.2/adc.yaml", "pd1: {driver: ads1116, address: 0x48, channel: 0}\n");
    expect(() => loadHardwareMap({ hatVersion: "1.2", modelName: "m", modelVersion: "1", unitHardwareDir: unitDir })).toThrow(
      /pd1' has driver 'ads1116'.*hats\/1\.2\/adc\.yaml/,
    );
  });
});
