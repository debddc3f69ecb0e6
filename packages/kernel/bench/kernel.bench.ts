/**
 * kernel benchmark (issue: "Measured"): a syscall round trip — `ioctl` on a trivial char device
 * with a 16-byte struct in user memory, copied in and out by the driver — against a plain method
 * call doing the same arithmetic on a JS object, in one process.
 */

import assert from "node:assert/strict";
import { measure, report, runBenchmarks } from "../../../scripts/bench-harness.ts";
import { O_RDWR } from "../src/fs/file.js";
import { boot, registerTestDevice, TEST_DEV_DOUBLE, test_dev_arg } from "../test/fixture.js";

await runBenchmarks("kernel", [
  [
    "ioctl round trip vs a plain method call",
    () => {
      const { kernel, p } = boot();
      registerTestDevice(kernel);
      const fd = p.open("/dev/testdev", O_RDWR);
      const arg = p.malloc(test_dev_arg.size);
      p.poke(arg, test_dev_arg.encode({ argsz: 16, calls: 0, value: 1n }));
      const N = 20_000;

      const device = {
        calls: 0,
        double(a: { argsz: number; calls: number; value: bigint }) {
          this.calls++;
          return { argsz: a.argsz, calls: this.calls, value: a.value * 2n };
        },
      };
      let state = { argsz: 16, calls: 0, value: 1n };
      const base = measure("method call", () => {
        for (let i = 0; i < N; i++) state = device.double({ ...state, value: 1n });
      });
      const subj = measure("ioctl", () => {
        for (let i = 0; i < N; i++) p.ioctl(fd, TEST_DEV_DOUBLE, arg);
      });
      assert.ok(test_dev_arg.decode(p.peek(arg, 16)).calls > N);
      report("syscall round trip: ioctl with a 16-byte struct in user memory", [
        `plain method call: ${((base.msPerOp * 1e6) / N).toFixed(0)} ns/call`,
        `ioctl (facade, fd lookup, vfs_ioctl, copy_from_user + copy_to_user): ${((subj.msPerOp * 1e6) / N).toFixed(0)} ns/call`,
        `cost ratio ioctl / method call = ${(subj.msPerOp / base.msPerOp).toFixed(1)}x`,
      ]);
    },
  ],
]);
