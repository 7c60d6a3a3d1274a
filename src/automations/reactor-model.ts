/**
 * The facts about each vessel model that dosing and heating safety depend on (the original's
 * built-in `Model` table): capacity, the fill level pumps must stay under, and the PCB
 * temperatures at which heating is reduced, disabled, or the unit is powered off.
 */
export interface ReactorModel {
  modelName: string;
  modelVersion: string;
  reactorCapacityMl: number;
  reactorMaxFillVolumeMl: number;
  maxTempToReduceHeating: number;
  maxTempToDisableHeating: number;
  maxTempToShutdown: number;
}

export function reactorModel(modelName: string, modelVersion: string): ReactorModel {
  const is20 = modelName.startsWith("pioreactor_20ml");
  const legacy20 = is20 && modelVersion === "1.0";
  return {
    modelName,
    modelVersion,
    reactorCapacityMl: is20 ? 20 : 40,
    reactorMaxFillVolumeMl: is20 ? 18 : 36,
    maxTempToReduceHeating: legacy20 ? 63 : 78,
    maxTempToDisableHeating: legacy20 ? 65 : 80,
    maxTempToShutdown: legacy20 ? 66 : 85,
  };
}
