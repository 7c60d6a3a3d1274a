/**
 * Composes the real drivers for one Pioreactor from its hardware description. Native and
 * platform-specific pieces are injected or loaded lazily: the I²C addon only when this backend
 * is created; GPIO lines (hall sensor) and software PWM (pins without hardware PWM) through
 * factories, since pioreactor-ts does not ship a libgpiod binding yet.
 */

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Clock } from "../../util/clock";
import { HardwareError } from "../errors";
import { type HardwareMap, pinForPwmChannel } from "../hardware-map";
import {
  type Adc,
  type AdcInput,
  type GpioEdgeSource,
  type GpioPin,
  HEATER_PWM_HZ,
  type HardwareBackend,
  type Pwm,
  type PwmChannel,
} from "../ports";
import { Ads1114Input, Ads1115Input } from "./ads111x";
import { Dac43608LedDriver } from "./dac43608";
import { DeviceTreeEeprom } from "./eeprom";
import { type I2cBus, isI2cDevicePresent, openI2cBus } from "./i2c-bus";
import { PicoAdcInput, PicoLedDriver } from "./pico";
import { HARDWARE_PWM_CHANNEL_FOR_PIN, hardwarePwmChip, SysfsPwm } from "./sysfs-pwm";
import { Tmp1075 } from "./tmp1075";

export interface PiBackendOptions {
  map: HardwareMap;
  clock: Clock;
  /** An already open bus (tests); otherwise `/dev/i2c-<i2cBusNumber>` is opened through i2c-bus. */
  i2c?: I2cBus;
  i2cBusNumber?: number;
  /** HAT MCU firmware (env FIRMWARE); read from the MCU when omitted. */
  firmware?: [number, number];
  /** Defaults to /sys/class/pwm. */
  sysfsPwmRoot?: string;
  /** Defaults to the rule in `hardwarePwmChip` applied to this Pi. */
  sysfsPwmChip?: number;
  /** Defaults to /proc/device-tree. */
  deviceTreeRoot?: string;
  /** PWM for pins without hardware PWM (17, 16, 18 on current HATs), e.g. a libgpiod software PWM. */
  softwarePwm?: (pin: GpioPin, frequencyHz: number) => Pwm;
  /** Edge events of a GPIO input (pull-up, falling edges), e.g. from libgpiod. */
  gpioEdges?: (pin: GpioPin) => GpioEdgeSource;
}

function rpiModel(deviceTreeRoot: string): string {
  try {
    return fs.readFileSync(path.join(deviceTreeRoot, "model"), "utf8").replace(/\0+$/, "").trim();
  } catch {
    return "";
  }
}

class PiAdc implements Adc {
  private readonly inputs = new Map<string, AdcInput>();

  constructor(map: HardwareMap, bus: I2cBus, clock: Clock, firmware?: [number, number]) {
    for (const d of Object.values(map.adc)) {
      const input =
        d.driver === "pico"
          ? new PicoAdcInput(bus, d, firmware)
          : d.driver === "ads1114"
            ? new Ads1114Input(bus, clock, d)
            : new Ads1115Input(bus, clock, d);
      this.inputs.set(d.name, input);
    }
  }

  inputNames(): string[] {
    return [...this.inputs.keys()];
  }

  input(name: string): AdcInput {
    const input = this.inputs.get(name);
    if (!input) {
      throw new HardwareError(`No ADC input '${name}' in the hardware description (known: ${this.inputNames().join(", ")})`);
    }
    return input;
  }
}

/** An edge source that explains why it cannot work instead of failing obscurely. */
class MissingGpioDriver implements GpioEdgeSource {
  constructor(readonly pin: GpioPin) {}
  onEdge(): () => void {
    throw new HardwareError(
      `Reading GPIO ${this.pin} edges (stirring hall sensor) needs a GPIO line driver, which this pioreactor-ts build ` +
        "does not include yet (libgpiod support is planned). Use --use-rpm false / [stirring.config] use_rpm=0 meanwhile.",
    );
  }
  async close(): Promise<void> {}
}

export async function createPiBackend(opts: PiBackendOptions): Promise<HardwareBackend> {
  const { map, clock } = opts;
  const bus = opts.i2c ?? (await openI2cBus(opts.i2cBusNumber ?? 1));
  const deviceTreeRoot = opts.deviceTreeRoot ?? "/proc/device-tree";
  const chip = opts.sysfsPwmChip ?? hardwarePwmChip(rpiModel(deviceTreeRoot), os.release());

  const pwmOnPin = (pin: GpioPin, frequencyHz: number): Pwm => {
    if (HARDWARE_PWM_CHANNEL_FOR_PIN.has(pin)) {
      return new SysfsPwm({ pin, frequencyHz, chip, clock, root: opts.sysfsPwmRoot });
    }
    if (opts.softwarePwm) return opts.softwarePwm(pin, frequencyHz);
    throw new HardwareError(
      `GPIO ${pin} has no hardware PWM (only 12 and 13 do) and this pioreactor-ts build has no software-PWM GPIO driver yet ` +
        "(libgpiod support is planned).",
    );
  };

  const mcuAddress = map.adc["version"]?.driver === "pico" ? map.adc["version"].address : null;
  const ledDriver =
    map.dac.driver === "dac43608" ? new Dac43608LedDriver(bus, map.dac.address) : new PicoLedDriver(bus, map.dac.address);

  return {
    map,
    pwm: (channel: PwmChannel, frequencyHz: number) => pwmOnPin(pinForPwmChannel(map, channel), frequencyHz),
    pwmOnPin,
    heater: (frequencyHz = HEATER_PWM_HZ) => pwmOnPin(pinForPwmChannel(map, map.pwm.heaterChannel), frequencyHz),
    adc: new PiAdc(map, bus, clock, opts.firmware),
    ledDriver,
    rpmSensor: opts.gpioEdges ? opts.gpioEdges(map.gpio.hallSensorPin) : new MissingGpioDriver(map.gpio.hallSensorPin),
    tempSensor: new Tmp1075(bus, map.temp.address),
    eeprom: new DeviceTreeEeprom(path.join(deviceTreeRoot, "hat"), bus, mcuAddress),
    isI2cDevicePresent: (address: number) => isI2cDevicePresent(bus, address),
    close: () => bus.close(),
  };
}
