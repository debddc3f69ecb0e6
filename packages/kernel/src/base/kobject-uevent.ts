/**
 * Synthetic uevents (lib/kobject_uevent.c: kobject_synth_uevent()): what writing an action to
 * a `uevent` file does. The action word is checked as Linux checks it; an unknown one is
 * EINVAL with the kernel's warning.
 *
 * Caveat: no netlink, so nothing is sent; the optional `UUID KEY=VALUE…` arguments are not
 * validated.
 */

import { SysError } from "../errno.js";
import { KERN_WARNING } from "../printk/levels.js";
import type { Printk } from "../printk/printk.js";

/** lib/kobject_uevent.c: kobject_actions[], indexed by enum kobject_action. */
export const KOBJECT_ACTIONS = [
  "add",
  "remove",
  "change",
  "move",
  "online",
  "offline",
  "bind",
  "unbind",
] as const;

export type KobjectAction = (typeof KOBJECT_ACTIONS)[number];

/** lib/kobject_uevent.c: kobject_action_type() — the action named by the first word. */
export function kobjectActionType(text: string): KobjectAction | undefined {
  let s = text;
  if (s.endsWith("\n") || s.endsWith("\0")) s = s.slice(0, -1);
  if (s.length === 0) return undefined;
  const space = s.indexOf(" ");
  const first = space >= 0 ? s.slice(0, space) : s;
  return KOBJECT_ACTIONS.find((a) => a === first);
}

/**
 * lib/kobject_uevent.c: kobject_synth_uevent() — EINVAL and "synth uevent: <devpath>: unknown
 * uevent action string" for an unknown action. `kobjPath` is the sysfs path of the kobject.
 */
export function kobjectSynthUevent(printk: Printk, kobjPath: string, text: string): KobjectAction {
  const action = kobjectActionType(text);
  if (action === undefined) {
    const devpath = kobjPath.startsWith("/sys/") ? kobjPath.slice(4) : kobjPath;
    printk.printk(KERN_WARNING, `synth uevent: ${devpath}: unknown uevent action string`);
    throw new SysError("EINVAL", "kobject_synth_uevent", "unknown uevent action string");
  }
  return action;
}
