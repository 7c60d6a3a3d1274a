export type { BioreactorParams, BioreactorReadout, BioreactorSnapshot, FaultState, PumpKind, PwmRole } from "./bioreactor";
export { SimulatedBioreactor } from "./bioreactor";
export { DEFAULT_PUMP_ML_PER_SECOND, defaultParams } from "./defaults";
export type { Angle, PhotodiodeRole } from "./optics";
export { FileSimStateStore, MemorySimStateStore, type SimStateStore } from "./state-store";
export {
  createSimulatedUnit,
  SimulatedBioreactorControls,
  SimulatedFaults,
  type SimulatedUnit,
  type SimulatedUnitOptions,
} from "./simulated-unit";
