/** The shared fixture of the kernel scenario tests: a booted virtLab kernel and a root process. */

import { boards, Soc } from "@vfio-lab/hw-soc";
import type { FileOperations } from "../src/fs/file.js";
import { MISC_DYNAMIC_MINOR } from "../src/fs/misc.js";
import { Kernel } from "../src/kernel.js";
import type { SpawnOptions } from "../src/process.js";
import { copyFromUser, copyToUser } from "../src/uaccess.js";
import { _IOWR } from "../src/uapi/ioctl.js";
import { defineStruct, u32, u64 } from "../src/uapi/struct.js";

export function boot(cmdline = "", spawn: SpawnOptions = { comm: "test" }) {
  const soc = Soc.fromDeviceTree(boards.virtLab({ ramSize: 0x4000_0000 }));
  const kernel = Kernel.boot(soc, { cmdline });
  const p = kernel.spawn(spawn);
  return { soc, kernel, p };
}

/** A 16-byte struct for the trivial test device: the driver doubles `value` and bumps `calls`. */
export const test_dev_arg = defineStruct("test_dev_arg", [
  ["argsz", u32],
  ["calls", u32],
  ["value", u64],
]);
export const TEST_DEV_DOUBLE = _IOWR("t", 1, test_dev_arg);

/** Registers /dev/testdev, a misc device with one ioctl, as a trivial driver would. */
export function registerTestDevice(kernel: Kernel, owner?: { name: string }): void {
  let calls = 0;
  const fops: FileOperations = {
    ...(owner ? { owner } : {}),
    unlockedIoctl(_file, current, cmd, arg) {
      if (cmd !== TEST_DEV_DOUBLE) return -515; // unreachable in tests: ENOIOCTLCMD is thrown below
      const v = test_dev_arg.decode(
        copyFromUser(current.mm, arg, test_dev_arg.size, "testdev_ioctl"),
      );
      calls++;
      copyToUser(
        current.mm,
        arg,
        test_dev_arg.encode({
          argsz: v.argsz,
          calls,
          value: (v.value * 2n) & 0xffff_ffff_ffff_ffffn,
        }),
        "testdev_ioctl",
      );
      return 0;
    },
  };
  kernel.vfs.misc.miscRegister({ minor: MISC_DYNAMIC_MINOR, name: "testdev", fops, mode: 0o666 });
}
