/**
 * A system-on-chip built from a device tree: RAM from `memory` nodes, one model per node with
 * `reg` (chosen by `compatible`), `interrupts` wired to the GIC, `iommus` wired to the SMMU.
 *
 * This is the hardware a kernel boots on, and nothing more: the tree is kept (as a parsed tree and
 * as the DTB a bootloader would hand over) for the kernel to read, but no Linux policy lives here.
 * A node whose `compatible` no model implements still gets its MMIO windows, answered by an
 * `UnimplementedDevice` that reports every access, so a missing model is never mistaken for a
 * silent register file.
 */

import { VirtualClock } from "./core/clock.js";
import type { Device, DeviceContext, DeviceIdentity } from "./core/device.js";
import type { DeviceModel } from "./core/device-model.js";
import type { Iommu } from "./core/dma-port.js";
import { PhysicalMemory } from "./core/physical-memory.js";
import { SystemBus } from "./core/system-bus.js";
import { HwTrace } from "./core/trace.js";
import { GicV3 } from "./devices/gic-v3.js";
import { createUnimplemented } from "./devices/unimplemented.js";
import { encodeFdt } from "./devicetree/fdt.js";
import { loadDeviceTree } from "./devicetree/load.js";
import {
  DtValueError,
  hasProperty,
  isAvailable,
  phandleMap,
  propStrings,
  propU32,
  propU32s,
  readReg,
  walkNodes,
} from "./devicetree/properties.js";
import type { DeviceTree, DtNode } from "./devicetree/tree.js";
import { defaultDeviceModels } from "./models.js";

/** GIC interrupt specifier types (`include/dt-bindings/interrupt-controller/arm-gic.h`). */
const GIC_SPI = 0;
const GIC_PPI = 1;

/** One `interrupts` entry of a device, as wired. */
export interface IrqRoute {
  readonly device: string;
  /** Index of the entry in the node's `interrupts` (= index of the device's output line). */
  readonly index: number;
  /** The output's name at the device, or null when the model has fewer outputs than the tree. */
  readonly line: string | null;
  readonly intid: number;
  /** DT trigger flags (1 edge rising, 2 edge falling, 4 level high, 8 level low). */
  readonly flags: number;
}

/** One `iommus` entry, as wired. */
export interface IommuRoute {
  readonly device: string;
  readonly iommu: string;
  readonly streamId: number;
}

/** Something in the tree the SoC could not honour, said plainly instead of dropped. */
export interface SocWarning {
  readonly path: string;
  readonly message: string;
}

export interface SocOptions {
  /** Models to choose from, most specific first; defaults to every model in this package. */
  readonly models?: readonly DeviceModel[];
}

export type DeviceTreeInput = string | Uint8Array | DeviceTree;

export class Soc {
  readonly clock = new VirtualClock();
  readonly trace = new HwTrace(() => this.clock.now);
  readonly memory = new PhysicalMemory();
  readonly bus = new SystemBus(this.memory);
  readonly tree: DeviceTree;
  /** The flattened tree, as a bootloader would place it in memory for the kernel. */
  readonly dtb: Uint8Array;
  readonly ram: readonly { readonly base: number; readonly size: number }[];
  /** Every device model instantiated, in device-tree order. */
  readonly devices: readonly Device[];
  readonly irqRoutes: readonly IrqRoute[];
  readonly iommuRoutes: readonly IommuRoute[];
  readonly warnings: readonly SocWarning[];

  private readonly byName = new Map<string, Device>();
  private readonly byPath = new Map<string, Device>();

  private constructor(tree: DeviceTree, options: SocOptions) {
    this.tree = tree;
    this.dtb = encodeFdt(tree);
    const models = options.models ?? defaultDeviceModels;
    const ctx: DeviceContext = { clock: this.clock, trace: this.trace, bus: this.bus };
    const warnings: SocWarning[] = [];
    const ram: { base: number; size: number }[] = [];
    const devices: Device[] = [];
    const nodeOf = new Map<Device, DtNode>();
    const deviceOfNode = new Map<DtNode, Device>();
    const ancestorsOf = new Map<DtNode, readonly DtNode[]>();

    walkNodes(tree, (node, path, parent, ancestors) => {
      if (!parent) return true;
      ancestorsOf.set(node, ancestors);
      if (!isAvailable(node)) return false;
      if (!hasProperty(node, "reg") || isCpuOrNonMmio(node, parent)) return true;
      let windows: { address: number; size: number }[];
      try {
        windows = readReg(node, ancestors);
      } catch (e) {
        if (e instanceof DtValueError) {
          warnings.push({ path, message: e.message });
          return true;
        }
        throw e;
      }
      if (windows.some((w) => w.size === 0)) {
        warnings.push({ path, message: "a reg window of size 0 maps nothing" });
        return true;
      }
      if (propStrings(node, "device_type")?.[0] === "memory") {
        windows.forEach((w, i) => {
          this.bus.addRam(windows.length > 1 ? `${node.name}#${i}` : node.name, w.address, w.size);
          ram.push({ base: w.address, size: w.size });
        });
        return false;
      }
      const compatible = propStrings(node, "compatible") ?? [];
      // Node names are unique among siblings only; fall back to the path for a clash elsewhere.
      const id: DeviceIdentity = {
        name: this.byName.has(node.name) ? path : node.name,
        path,
        compatible,
        windows: windows.map((w) => ({ base: w.address, size: w.size })),
      };
      const model = pickModel(models, compatible);
      // An unmodelled node still gets (silent) outputs for its interrupts, so its wiring shows.
      const irqCount = Math.floor((propU32s(node, "interrupts")?.length ?? 0) / 3);
      const device = model
        ? model.create(ctx, id, node, tree)
        : createUnimplemented(ctx, id, irqCount);
      for (const [i, w] of id.windows.entries())
        this.bus.addMmio(device.name, w.base, w.size, device, i);
      devices.push(device);
      nodeOf.set(device, node);
      deviceOfNode.set(node, device);
      this.byName.set(device.name, device);
      this.byPath.set(path, device);
      // Children of a device (the GIC's ITS) are devices of their own when they have `reg`.
      return true;
    });

    const phandles = phandleMap(tree);
    this.irqRoutes = wireInterrupts(devices, nodeOf, deviceOfNode, ancestorsOf, phandles, warnings);
    this.iommuRoutes = wireIommus(devices, nodeOf, deviceOfNode, phandles, warnings);
    this.devices = devices;
    this.ram = ram;
    this.warnings = warnings;
  }

  /** Builds a SoC from DTS text, DTB bytes or a parsed tree. */
  static fromDeviceTree(input: DeviceTreeInput, options: SocOptions = {}): Soc {
    return new Soc(loadDeviceTree(input), options);
  }

  /** Current virtual time in nanoseconds. */
  get now(): number {
    return this.clock.now;
  }

  /** Advances virtual time by `ns`, running every hardware event due. */
  run(ns: number): number {
    return this.clock.run(ns);
  }

  /** Runs hardware events until none is pending. */
  runUntilIdle(maxEvents?: number): number {
    return this.clock.runUntilIdle(maxEvents);
  }

  /** The device with this node name (`pl061@9030000`) or path (`/pl061@9030000`). */
  device(nameOrPath: string): Device {
    const d = this.byName.get(nameOrPath) ?? this.byPath.get(nameOrPath);
    if (!d) throw new RangeError(`no device ${nameOrPath} on this SoC`);
    return d;
  }

  /** The device with this name or path, checked to be an instance of `kind`. */
  deviceOf<T extends Device>(kind: abstract new (...args: never[]) => T, nameOrPath: string): T {
    const d = this.device(nameOrPath);
    if (!(d instanceof kind))
      throw new TypeError(`${nameOrPath} is a ${d.constructor.name}, not a ${kind.name}`);
    return d;
  }

  /** Every device of a model class, in tree order. */
  devicesOf<T extends Device>(kind: abstract new (...args: never[]) => T): T[] {
    return this.devices.filter((d): d is T => d instanceof kind);
  }

  /** The interrupt controller (the first GICv3 in the tree). */
  get gic(): GicV3 {
    const gic = this.devicesOf(GicV3)[0];
    if (!gic) throw new RangeError("this SoC has no GICv3");
    return gic;
  }
}

function pickModel(
  models: readonly DeviceModel[],
  compatible: readonly string[],
): DeviceModel | undefined {
  for (const c of compatible) {
    const m = models.find((model) => model.compatible.includes(c));
    if (m) return m;
  }
  return undefined;
}

/** `reg` under `/cpus` is an MPIDR, and under a PCI bus a config-space address: not MMIO. */
function isCpuOrNonMmio(node: DtNode, parent: DtNode): boolean {
  if (propStrings(node, "device_type")?.[0] === "cpu") return true;
  return (propU32(parent, "#size-cells") ?? 1) === 0;
}

function interruptParent(
  node: DtNode,
  ancestors: readonly DtNode[],
  phandles: Map<number, DtNode>,
): DtNode | undefined {
  for (const n of [node, ...[...ancestors].reverse()]) {
    const ph = propU32(n, "interrupt-parent");
    if (ph !== undefined) return phandles.get(ph);
  }
  return undefined;
}

function wireInterrupts(
  devices: readonly Device[],
  nodeOf: Map<Device, DtNode>,
  deviceOfNode: Map<DtNode, Device>,
  ancestorsOf: Map<DtNode, readonly DtNode[]>,
  phandles: Map<number, DtNode>,
  warnings: SocWarning[],
): IrqRoute[] {
  const routes: IrqRoute[] = [];
  for (const device of devices) {
    const node = nodeOf.get(device)!;
    const spec = propU32s(node, "interrupts");
    if (!spec) continue;
    const controllerNode = interruptParent(node, ancestorsOf.get(node) ?? [], phandles);
    const controller = controllerNode ? deviceOfNode.get(controllerNode) : undefined;
    if (!(controller instanceof GicV3)) {
      warnings.push({
        path: device.path,
        message: "interrupt parent is not a modelled GICv3; interrupts left unwired",
      });
      continue;
    }
    const cells = propU32(controllerNode!, "#interrupt-cells") ?? 3;
    if (cells < 3 || spec.length % cells !== 0) {
      warnings.push({
        path: device.path,
        message: `"interrupts" does not fit #interrupt-cells = <${cells}>`,
      });
      continue;
    }
    for (let i = 0; i * cells < spec.length; i++) {
      const [type, number, flags] = [spec[i * cells]!, spec[i * cells + 1]!, spec[i * cells + 2]!];
      const intid = type === GIC_SPI ? number + 32 : type === GIC_PPI ? number + 16 : -1;
      if (intid < 0 || !controller.hasInput(intid)) {
        warnings.push({
          path: device.path,
          message: `interrupt ${i}: <${type} ${number} ${flags}> is not an input of the GIC`,
        });
        continue;
      }
      const line = device.irqs[i];
      if (line) line.connect(controller, intid);
      else
        warnings.push({
          path: device.path,
          message: `interrupt ${i} (INTID ${intid}) has no output in the model`,
        });
      routes.push({
        device: device.name,
        index: i,
        line: line?.name ?? null,
        intid,
        flags: flags & 0xf,
      });
    }
  }
  return routes;
}

function wireIommus(
  devices: readonly Device[],
  nodeOf: Map<Device, DtNode>,
  deviceOfNode: Map<DtNode, Device>,
  phandles: Map<number, DtNode>,
  warnings: SocWarning[],
): IommuRoute[] {
  const routes: IommuRoute[] = [];
  for (const device of devices) {
    const node = nodeOf.get(device)!;
    const spec = propU32s(node, "iommus");
    if (!spec) continue;
    // Only single-cell specifiers (an SMMUv3 StreamID) are meaningful to our IOMMU model.
    let i = 0;
    while (i < spec.length) {
      const iommuNode = phandles.get(spec[i]!);
      const cells = iommuNode ? (propU32(iommuNode, "#iommu-cells") ?? 0) : 0;
      const iommu = iommuNode ? deviceOfNode.get(iommuNode) : undefined;
      if (!iommuNode || !iommu || !isIommu(iommu)) {
        warnings.push({
          path: device.path,
          message: "iommus: the phandle is not a modelled, available IOMMU",
        });
        break;
      }
      if (cells !== 1 || i + 1 >= spec.length) {
        warnings.push({
          path: device.path,
          message: `iommus: expected #iommu-cells = <1>, got <${cells}>`,
        });
        break;
      }
      const streamId = spec[i + 1]!;
      if (!device.dma) {
        warnings.push({
          path: device.path,
          message: "iommus names a device that is not a bus master in the model",
        });
      } else if (device.dma.iommu) {
        warnings.push({
          path: device.path,
          message: "iommus: only the first stream ID is used by the model",
        });
      } else {
        device.dma.attach(iommu, streamId);
      }
      routes.push({ device: device.name, iommu: iommu.name, streamId });
      i += 2;
    }
  }
  return routes;
}

function isIommu(device: Device): device is Device & Iommu {
  return typeof (device as Partial<Iommu>).translate === "function";
}
