/**
 * How a device model plugs into `Soc.fromDeviceTree()`: the `compatible` strings it implements
 * and a factory. The SoC builds the identity (name, path, windows from `reg`), calls `create`,
 * maps the windows on the bus, wires `interrupts` to the GIC and `iommus` to the SMMU.
 */

import type { DeviceTree, DtNode } from "../devicetree/tree.js";
import type { Device, DeviceContext, DeviceIdentity } from "./device.js";

export interface DeviceModel {
  /** `compatible` strings this model implements; the first node string that matches wins. */
  readonly compatible: readonly string[];
  /** A one-line description for listings and docs. */
  readonly description: string;
  create(ctx: DeviceContext, id: DeviceIdentity, node: DtNode, tree: DeviceTree): Device;
}
