import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { picoRawToVolts } from "../../../src/hardware/adc-conversion";
import { I2cError } from "../../../src/hardware/errors";
import { Ads1114Input, Ads1115Input, adsConfigWord } from "../../../src/hardware/pi/ads111x";
import { Dac43608LedDriver, dac43608Word } from "../../../src/hardware/pi/dac43608";
import { DeviceTreeEeprom, hatVersionFromProductVer } from "../../../src/hardware/pi/eeprom";
import { isI2cDevicePresent, loadI2cBusModule, NodeI2cBus } from "../../../src/hardware/pi/i2c-bus";
import { PicoAdcInput, PicoLedDriver, readPicoFirmwareVersion } from "../../../src/hardware/pi/pico";
import { decodeTmp1075, Tmp1075 } from "../../../src/hardware/pi/tmp1075";
import { settle, VirtualClock } from "../../../src/util/clock";
import { FakeI2cBus, registerDevice } from "../fake-i2c-bus";

const MCU = 0x2c;

describe("HAT MCU (RP2040)", () => {
  test("LED intensity is one write of [channel register, 8-bit duty]", async () => {
    const bus = new FakeI2cBus().device(MCU, () => []);
    const leds = new PicoLedDriver(bus, MCU);
    await leds.setIntensity("A", 100);
    await leds.setIntensity("C", 50);
    await leds.setIntensity("D", 0);
    await leds.setIntensity("B", 120); // clamped
    expect(bus.writes(MCU)).toEqual([
      [0, 255],
      [2, 128],
      [3, 0],
      [1, 255],
    ]);
  });

  test("firmware version register answers [minor, major]", async () => {
    const bus = new FakeI2cBus().device(MCU, registerDevice({ 8: [5, 0] }));
    expect(await readPicoFirmwareVersion(bus, MCU)).toEqual([0, 5]);
  });

  test("ADC input n reads register 4+n, 2 bytes little-endian unsigned, scale from firmware", async () => {
    const raw = 0xbeef;
    const bus = new FakeI2cBus().device(MCU, registerDevice({ 8: [5, 0], 6: [raw & 0xff, raw >> 8] }));
    const pd1 = new PicoAdcInput(bus, { name: "pd1", driver: "pico", address: MCU, channel: 2 });
    expect(await pd1.readRaw()).toBe(raw);
    expect(bus.transfers.map((t) => t.op === "writeThenRead" && t.bytes[0])).toEqual([8, 6]);
    expect(pd1.rawToVolts(raw)).toBeCloseTo(picoRawToVolts(raw, 32), 12);
    expect(pd1.rawToVolts(4095 * 32)).toBeCloseTo(3.3, 12);
    expect(pd1.hasGain).toBe(false);
    await expect(pd1.setGain(2)).rejects.toThrow(/no programmable gain/);
  });

  test("firmware older than 0.4 reports 16x sums", async () => {
    const bus = new FakeI2cBus().device(MCU, registerDevice({ 8: [3, 0] }));
    const pd = new PicoAdcInput(bus, { name: "pd2", driver: "pico", address: MCU, channel: 3 });
    await pd.init();
    expect(pd.rawToVolts(4095 * 16)).toBeCloseTo(3.3, 12);
  });

  test("a missing MCU surfaces as an I2cError", async () => {
    const bus = new FakeI2cBus().device(MCU, () => []).fail(MCU);
    const pd = new PicoAdcInput(bus, { name: "pd1", driver: "pico", address: MCU, channel: 2 }, [0, 5]);
    await expect(pd.readRaw()).rejects.toBeInstanceOf(I2cError);
  });
});

describe("ADS1114", () => {
  const desc = { name: "pd1", driver: "ads1114" as const, address: 0x48, channel: 0 };

  test("config word at gain 1 is 0x0283 (continuous, 128 SPS, comparator off)", () => {
    expect(adsConfigWord({ gain: 1, singleShot: false })).toBe(0x0283);
    expect(adsConfigWord({ gain: 16, singleShot: false })).toBe(0x0a83);
    expect(adsConfigWord({ gain: 2 / 3, singleShot: false })).toBe(0x0083);
  });

  test("configures once, decodes signed big-endian, waits one conversion between reads", async () => {
    const clock = new VirtualClock(0);
    let conversion = [0x12, 0x34];
    const bus = new FakeI2cBus().device(0x48, (w) => (w[0] === 0 ? conversion : []));
    const adc = new Ads1114Input(bus, clock, desc);

    const first = adc.readRaw();
    await settle();
    expect(bus.writes(0x48)).toEqual([[0x01, 0x02, 0x83]]);
    // The first read after configuring waits one conversion period (1/128 s).
    expect(bus.transfers.filter((t) => t.op === "writeThenRead")).toHaveLength(0);
    await clock.advance(8);
    expect(await first).toBe(0x1234);

    conversion = [0xff, 0xfe];
    const second = adc.readRaw();
    await clock.advance(8);
    expect(await second).toBe(-2);
    expect(bus.writes(0x48)).toHaveLength(1);
  });

  test("gain changes rewrite the PGA field; adjustGainFor follows the 0.85-scaled windows", async () => {
    const clock = new VirtualClock(0);
    const bus = new FakeI2cBus().device(0x48, () => [0, 0]);
    const adc = new Ads1114Input(bus, clock, desc);
    expect(await adc.adjustGainFor(0.1)).toBe(true); // 0.1 V < 0.85·0.256 → gain 16
    expect(adc.gain).toBe(16);
    expect(bus.writes(0x48).at(-1)).toEqual([0x01, 0x0a, 0x83]);
    expect(await adc.adjustGainFor(0.1)).toBe(false);
    expect(await adc.adjustGainFor(1.0)).toBe(true); // 0.8704 ≤ 1.0 < 1.7408 → gain 2
    expect(adc.gain).toBe(2);
    expect(adc.rawToVolts(32767)).toBeCloseTo(2.048, 12);
    await expect(adc.setGain(3)).rejects.toThrow(/no gain 3/);
  });
});

describe("ADS1115 (HAT 1.0)", () => {
  test("single-shot: start conversion on the input, poll OS bit, read the conversion register", async () => {
    const clock = new VirtualClock(0);
    let polls = 0;
    const bus = new FakeI2cBus().device(0x48, (w) => {
      if (w[0] === 1) return ++polls < 2 ? [0x00, 0x00] : [0x80, 0x00];
      return [0x40, 0x00];
    });
    const adc = new Ads1115Input(bus, clock, { name: "pd1", driver: "ads1115", address: 0x48, channel: 1 });
    const read = adc.readRaw();
    await clock.advance(100);
    expect(await read).toBe(0x4000);
    // OS=1, MUX=0b101 (AIN1 vs GND), PGA=001, MODE=1, DR=100, COMP=00011
    expect(bus.writes(0x48)).toEqual([[0x01, 0xd3, 0x83]]);
    expect(polls).toBe(2);
  });
});

describe("DAC43608 (HAT 1.0)", () => {
  test("powers a channel up (read-modify-write of config) then writes the left-aligned word", async () => {
    let config = 0x00ff;
    const bus = new FakeI2cBus().device(0x49, () => [config >> 8, config & 0xff]);
    const dac = new Dac43608LedDriver(bus, 0x49);
    await dac.setIntensity("B", 50);
    expect(bus.writes(0x49)).toEqual([
      [0x01, 0x00, 0xfd],
      [9, (dac43608Word(50) >> 8) & 0xff, dac43608Word(50) & 0xff],
    ]);
    expect(dac43608Word(50)).toBe(128 << 4);
    config = 0x00fd;
    await dac.setIntensity("B", 0);
    expect(bus.writes(0x49).at(-1)).toEqual([0x01, 0x00, 0xff]);
  });
});

describe("TMP1075", () => {
  test("decodes 12-bit two's complement at 0.0625 °C per count", async () => {
    expect(decodeTmp1075(0x19, 0x00)).toBe(25);
    expect(decodeTmp1075(0x19, 0x80)).toBe(25.5);
    expect(decodeTmp1075(0xff, 0xf0)).toBe(-0.0625);
    const bus = new FakeI2cBus().device(0x4f, registerDevice({ 0: [0x25, 0x40] }));
    expect(await new Tmp1075(bus, 0x4f).readCelsius()).toBe(37.25);
    expect(bus.transfers).toEqual([{ op: "writeThenRead", address: 0x4f, bytes: [0], length: 2 }]);
  });
});

describe("presence probe and bus adapter", () => {
  test("presence is a zero-length write", async () => {
    const bus = new FakeI2cBus().device(0x4f, () => []);
    expect(await isI2cDevicePresent(bus, 0x4f)).toBe(true);
    expect(await isI2cDevicePresent(bus, 0x50)).toBe(false);
    expect(bus.writes(0x4f)).toEqual([[]]);
  });

  test("NodeI2cBus uses an SMBus I2C-block read for a one-byte pointer and wraps errors with a hint", async () => {
    const calls: string[] = [];
    const fakeNative = {
      i2cWrite: async (a: number, n: number) => {
        calls.push(`w ${a} ${n}`);
        return { bytesWritten: n, buffer: Buffer.alloc(0) };
      },
      i2cRead: async (_a: number, n: number, b: Buffer) => ({ bytesRead: n, buffer: b }),
      readI2cBlock: async (a: number, cmd: number, n: number, b: Buffer) => {
        calls.push(`block ${a} ${cmd} ${n}`);
        b.fill(7);
        return { bytesRead: n, buffer: b };
      },
      close: async () => {},
    };
    const bus = new NodeI2cBus(fakeNative, 1);
    expect([...(await bus.writeThenRead(0x2c, Uint8Array.of(8), 2))]).toEqual([7, 7]);
    expect(calls).toEqual(["block 44 8 2"]);
    fakeNative.i2cWrite = async () => {
      throw Object.assign(new Error("ENOENT, No such file"), { code: "ENOENT" });
    };
    await expect(bus.write(0x2c, Uint8Array.of(1))).rejects.toThrow(/enable I2C/);
  });

  test("a missing i2c-bus package explains what to install", () => {
    const failingRequire = () => {
      throw new Error("Cannot find module 'i2c-bus'");
    };
    expect(() => loadI2cBusModule(failingRequire)).toThrow(/npm install i2c-bus/);
  });
});

describe("HAT EEPROM via the device tree", () => {
  test("reads vendor, product, version and serial; null without a HAT", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hat-"));
    const hat = path.join(dir, "hat");
    const bus = new FakeI2cBus().device(MCU, registerDevice({ 8: [5, 0] }));
    expect(await new DeviceTreeEeprom(hat, bus, MCU).readHat()).toBeNull();
    fs.mkdirSync(hat);
    fs.writeFileSync(path.join(hat, "vendor"), "Pioreactor Inc.\0");
    fs.writeFileSync(path.join(hat, "product_id"), "0x0001\0");
    fs.writeFileSync(path.join(hat, "product_ver"), "0x0012\0");
    fs.writeFileSync(path.join(hat, "uuid"), "1234abcd-0000-0000-0000-000000000001\0");
    const eeprom = new DeviceTreeEeprom(hat, bus, MCU);
    expect(await eeprom.readHat()).toEqual({
      vendor: "Pioreactor Inc.",
      productId: "0x0001",
      hatVersion: "1.2",
      serial: "1234abcd-0000-0000-0000-000000000001",
      isPioreactorHat: true,
    });
    expect(await eeprom.readFirmwareVersion()).toEqual([0, 5]);
    expect(await new DeviceTreeEeprom(hat, bus, null).readFirmwareVersion()).toBeNull();
    expect(hatVersionFromProductVer("0x0010")).toBe("1.0");
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
