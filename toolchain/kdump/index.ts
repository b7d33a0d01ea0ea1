/**
 * kdump as a service on the target: arm (describe this boot, build, verify
 * and load the crash bundle), status (loaded? from which bundle? stale?),
 * disarm. The only module that runs programs on the target (the loader);
 * see docs/kdump-service.md.
 */
export { armKdump } from "./arm.js";
export type { ArmOptions, ArmReport } from "./arm.js";
export { kdumpStatus } from "./status.js";
export type { KdumpState, StatusReport } from "./status.js";
export { disarmKdump } from "./disarm.js";
export type { DisarmReport } from "./disarm.js";
export { ARMED_FORMAT, DEFAULT_STATE_DIR, readArmed, serializeArmed, statePaths } from "./state.js";
export type { Armed, InputFile } from "./state.js";
export { crashLoaded, describeThisBoot } from "./live.js";
