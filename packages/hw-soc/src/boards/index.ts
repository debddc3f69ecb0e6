import { virtLab, virtLabMap } from "./virt-lab.js";

export type { VirtLabOptions } from "./virt-lab.js";

/** Ready-made boards, as DTS text for `Soc.fromDeviceTree()`. */
export const boards = { virtLab, virtLabMap } as const;
