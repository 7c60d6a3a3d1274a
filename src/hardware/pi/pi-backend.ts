/**
 * Composes the real drivers for one Pioreactor from its hardware description. Native and
 * platform-specific pieces are loaded lazily: the I²C addon when this backend is created, the
 * `lgpio` addon only when a pin without hardware PWM or the hall sensor is first used. PWM
 * follows the original: hardware PWM through sysfs on GPIO 12 and 13, software-timed PWM
 * through lg on every other pin (17 stirring, 16 alt-media, 18 heater on current HATs).
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
import { headerGpiochip, type LgpioBinding, LgpioChip, LgpioEdgeSource, LgpioSoftwarePwm, loadLgpio } from "./lgpio";
import { type HasPcbLedButton, LgpioPcbLedButton } from "./pcb-led-button";
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
  /** The `lgpio` binding (tests pass a fake); loaded with `requireFn` on first use otherwise. */
  lgpio?: LgpioBinding;
  /** How `lgpio` is loaded when not given (tests simulate a missing package). */
  requireFn?: (id: string) => unknown;
  /** Defaults to 4 on a Raspberry Pi 5, else 0. */
  gpiochip?: number;
  /** Replaces lg software PWM for pins without hardware PWM. */
  softwarePwm?: (pin: GpioPin, frequencyHz: number) => Pwm;
  /** Replaces lg edge alerts for GPIO inputs (pull-up, falling edges). */
  gpioEdges?: (pin: GpioPin) => GpioEdgeSource;
}

/** Which driver generates PWM on a pin: the PWM peripheral (sysfs) where it is wired, lg software timing elsewhere. */
export function pwmDriverForPin(pin: GpioPin): "sysfs" | "lgpio" {
  return HARDWARE_PWM_CHANNEL_FOR_PIN.has(pin) ? "sysfs" : "lgpio";
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

/** The Pi backend also owns the HAT's PCB LED and button (the monitor's). */
export type PiHardwareBackend = HardwareBackend & HasPcbLedButton;

export async function createPiBackend(opts: PiBackendOptions): Promise<PiHardwareBackend> {
  const { map, clock } = opts;
  const bus = opts.i2c ?? (await openI2cBus(opts.i2cBusNumber ?? 1));
  const deviceTreeRoot = opts.deviceTreeRoot ?? "/proc/device-tree";
  const model = rpiModel(deviceTreeRoot);
  const chip = opts.sysfsPwmChip ?? hardwarePwmChip(model, os.release());
  const gpiochip = new LgpioChip(
    () => opts.lgpio ?? loadLgpio(opts.requireFn, "Software PWM (GPIO 17, 16, 18: stirring, alt-media pump, heater), the stirring hall sensor and the PCB LED and button"),
    opts.gpiochip ?? headerGpiochip(model),
  );

  const pwmOnPin = (pin: GpioPin, frequencyHz: number): Pwm => {
    if (pwmDriverForPin(pin) === "sysfs") return new SysfsPwm({ pin, frequencyHz, chip, clock, root: opts.sysfsPwmRoot });
    if (opts.softwarePwm) return opts.softwarePwm(pin, frequencyHz);
    return new LgpioSoftwarePwm(gpiochip, pin, frequencyHz);
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
    rpmSensor: opts.gpioEdges ? opts.gpioEdges(map.gpio.hallSensorPin) : new LgpioEdgeSource(gpiochip, map.gpio.hallSensorPin),
    tempSensor: new Tmp1075(bus, map.temp.address),
    eeprom: new DeviceTreeEeprom(path.join(deviceTreeRoot, "hat"), bus, mcuAddress),
    isI2cDevicePresent: (address: number) => isI2cDevicePresent(bus, address),
    pcbLedButton: ({ button }) => new LgpioPcbLedButton(gpiochip, map.gpio.pcbLedPin, map.gpio.pcbButtonPin).open({ button }),
    close: async () => {
      gpiochip.close();
      await bus.close();
    },
  };
}
