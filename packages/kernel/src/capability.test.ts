import { fc, test as fcTest } from "@fast-check/vitest";
import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import { describe, expect, test } from "vitest";
import {
  _KERNEL_CAPABILITY_VERSION,
  _LINUX_CAPABILITY_VERSION_1,
  _LINUX_CAPABILITY_VERSION_2,
  _LINUX_CAPABILITY_VERSION_3,
  CAP_LAST_CAP,
  CAP_VALID_MASK,
  CAPABILITIES,
  type CapabilityName,
  CapSet,
  type CapTask,
  type Cred,
  capCapset,
  capgetNames,
  capName,
  capsetNames,
  capValid,
  credCapable,
  INIT_CRED,
  spawnCred,
  sysCapget,
  sysCapset,
  user_cap_data_struct,
  user_cap_header_struct,
} from "./capability.js";
import type { AddressSpace } from "./mm/address-space.js";
import { machine } from "./mm/mm-test-fixture.js";
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from "./mm/mman.js";
import { expectErrno } from "./testing/matchers.js";

const ALL_NAMES = Object.keys(CAPABILITIES) as CapabilityName[];

/** A task with a few pages of user memory: one writable, then one read-only page. */
class FakeTask implements CapTask {
  readonly mm: AddressSpace;
  /** A writable scratch page. */
  readonly rw: number;
  /** A read-only page. */
  readonly ro: number;
  commits = 0;
  constructor(
    public cred: Cred,
    readonly pid = 100,
  ) {
    this.mm = machine(64).newMm();
    this.rw = this.mm.mmap({
      addr: 0,
      length: PAGE_SIZE,
      prot: PROT_READ | PROT_WRITE,
      flags: MAP_PRIVATE | MAP_ANONYMOUS,
    });
    this.ro = this.mm.mmap({
      addr: 0,
      length: PAGE_SIZE,
      prot: PROT_READ,
      flags: MAP_PRIVATE | MAP_ANONYMOUS,
    });
  }
  commitCreds(cred: Cred): void {
    this.cred = cred;
    this.commits++;
  }
  /** Writes a header at `rw` and returns its address; data structs go at `rw + 64`. */
  header(version: number, pid = 0): number {
    this.mm.writeUser(this.rw, user_cap_header_struct.encode({ version, pid }));
    return this.rw;
  }
  get data(): number {
    return this.rw + 64;
  }
  writeData(sets: { effective: CapSet; permitted: CapSet; inheritable: CapSet }): void {
    const bytes = new Uint8Array(2 * user_cap_data_struct.size);
    for (const i of [0, 1]) {
      const half = (s: CapSet) => (i === 0 ? s.low : s.high);
      user_cap_data_struct.encodeInto(bytes, i * user_cap_data_struct.size, {
        effective: half(sets.effective),
        permitted: half(sets.permitted),
        inheritable: half(sets.inheritable),
      });
    }
    this.mm.writeUser(this.data, bytes);
  }
  readData(count: number): { effective: number; permitted: number; inheritable: number }[] {
    const bytes = new Uint8Array(count * user_cap_data_struct.size);
    this.mm.readUser(this.data, bytes);
    return Array.from({ length: count }, (_, i) =>
      user_cap_data_struct.decode(bytes, i * user_cap_data_struct.size),
    );
  }
  headerVersion(): number {
    const bytes = new Uint8Array(user_cap_header_struct.size);
    this.mm.readUser(this.rw, bytes);
    return user_cap_header_struct.decode(bytes).version;
  }
}

const userCred = (caps: CapabilityName[]): Cred => spawnCred({ uid: 1000, caps });

describe("capability table (include/uapi/linux/capability.h)", () => {
  test("41 capabilities numbered 0..CAP_LAST_CAP without gaps", () => {
    const numbers = Object.values(CAPABILITIES).sort((a, b) => a - b);
    expect(numbers).toEqual(Array.from({ length: CAP_LAST_CAP + 1 }, (_, i) => i));
    expect(CAP_LAST_CAP).toBe(CAPABILITIES.CAP_CHECKPOINT_RESTORE);
    expect(CAP_VALID_MASK).toBe(0x1ff_ffff_ffffn);
  });

  test("the numbers the rest of the model depends on", () => {
    expect(CAPABILITIES.CAP_CHOWN).toBe(0);
    expect(CAPABILITIES.CAP_SETPCAP).toBe(8);
    expect(CAPABILITIES.CAP_IPC_LOCK).toBe(14);
    expect(CAPABILITIES.CAP_SYS_RAWIO).toBe(17);
    expect(CAPABILITIES.CAP_SYS_ADMIN).toBe(21);
    expect(CAPABILITIES.CAP_SETFCAP).toBe(31);
    expect(CAPABILITIES.CAP_MAC_OVERRIDE).toBe(32);
    expect(CAPABILITIES.CAP_PERFMON).toBe(38);
    expect(CAPABILITIES.CAP_BPF).toBe(39);
  });

  test("capName and capValid agree with the table", () => {
    for (const name of ALL_NAMES) expect(capName(CAPABILITIES[name])).toBe(name);
    expect(capName(41)).toBeUndefined();
    expect(capName(-1)).toBeUndefined();
    expect(capValid(40)).toBe(true);
    expect(capValid(41)).toBe(false);
    expect(capValid(1.5)).toBe(false);
  });
});

describe("CapSet (kernel_cap_t)", () => {
  test("FULL holds every capability, EMPTY none, names come in number order", () => {
    expect(CapSet.FULL.names()).toEqual(
      [...ALL_NAMES].sort((a, b) => CAPABILITIES[a] - CAPABILITIES[b]),
    );
    expect(CapSet.EMPTY.names()).toEqual([]);
    expect(CapSet.of(["CAP_SYS_RAWIO", "CAP_CHOWN"]).names()).toEqual([
      "CAP_CHOWN",
      "CAP_SYS_RAWIO",
    ]);
  });

  test("operations return new sets and leave the original alone", () => {
    const a = CapSet.of(["CAP_SYS_ADMIN"]);
    const b = a.with("CAP_IPC_LOCK");
    expect(a.names()).toEqual(["CAP_SYS_ADMIN"]);
    expect(b.has("CAP_IPC_LOCK")).toBe(true);
    expect(b.without("CAP_SYS_ADMIN").names()).toEqual(["CAP_IPC_LOCK"]);
    expect(a.isSubsetOf(b)).toBe(true);
    expect(b.isSubsetOf(a)).toBe(false);
  });

  test("mk_kernel_cap drops bits above CAP_LAST_CAP; halves split at bit 32", () => {
    const s = CapSet.fromU32(0xffff_ffff, 0xffff_ffff);
    expect(s.equals(CapSet.FULL)).toBe(true);
    expect(s.low).toBe(0xffff_ffff);
    expect(s.high).toBe(0x1ff);
    expect(CapSet.of(["CAP_MAC_OVERRIDE"]).high).toBe(1);
  });

  test("prints as /proc/<pid>/status does", () => {
    expect(CapSet.FULL.toString()).toBe("000001ffffffffff");
    expect(CapSet.EMPTY.toString()).toBe("0000000000000000");
  });

  test("an unknown capability is a bug in the caller", () => {
    expect(() => CapSet.of([41])).toThrow(RangeError);
    expect(() => CapSet.EMPTY.has("CAP_NOPE" as CapabilityName)).toThrow(RangeError);
  });

  const capSet = fc.bigInt({ min: 0n, max: CAP_VALID_MASK }).map((b) => CapSet.fromBits(b));
  fcTest.prop([capSet, capSet])("set algebra follows the bits", (a, b) => {
    expect(a.union(b).bits).toBe(a.bits | b.bits);
    expect(a.intersect(b).bits).toBe(a.bits & b.bits);
    expect(a.intersect(b).isSubsetOf(a)).toBe(true);
    expect(a.isSubsetOf(a.union(b))).toBe(true);
    expect(CapSet.of(a.names()).equals(a)).toBe(true);
    expect(CapSet.fromU32(a.low, a.high).equals(a)).toBe(true);
  });
});

describe("credentials", () => {
  test("root starts with every capability permitted and effective", () => {
    const root = spawnCred();
    expect(root.uid).toBe(0);
    expect(root.capEffective.equals(CapSet.FULL)).toBe(true);
    expect(root.capPermitted.equals(CapSet.FULL)).toBe(true);
    expect(root.capInheritable.isEmpty).toBe(true);
    expect(root.capBset.equals(CapSet.FULL)).toBe(true);
    expect(INIT_CRED.capEffective.equals(CapSet.FULL)).toBe(true);
    expect(credCapable(root, "CAP_SYS_RAWIO")).toBe(true);
  });

  test("a user starts with none; caps gives exactly those", () => {
    const user = spawnCred({ uid: 1000 });
    expect(user.capEffective.isEmpty).toBe(true);
    expect(user.gid).toBe(1000);
    expect(credCapable(user, "CAP_SYS_ADMIN")).toBe(false);
    const rawio = spawnCred({ uid: 1000, caps: ["CAP_SYS_RAWIO"] });
    expect(rawio.capEffective.names()).toEqual(["CAP_SYS_RAWIO"]);
    expect(rawio.capPermitted.names()).toEqual(["CAP_SYS_RAWIO"]);
    expect(spawnCred({ caps: [] }).capEffective.isEmpty).toBe(true);
  });
});

describe("cap_capset rules (security/commoncap.c)", () => {
  const set = (...names: CapabilityName[]) => CapSet.of(names);

  test("a task may drop from effective and raise it back from permitted", () => {
    const root = spawnCred();
    const dropped = capCapset(root, {
      effective: CapSet.FULL.without("CAP_SYS_RAWIO"),
      permitted: CapSet.FULL,
      inheritable: CapSet.EMPTY,
    });
    expect(credCapable(dropped, "CAP_SYS_RAWIO")).toBe(false);
    const raised = capCapset(dropped, {
      effective: CapSet.FULL,
      permitted: CapSet.FULL,
      inheritable: CapSet.EMPTY,
    });
    expect(credCapable(raised, "CAP_SYS_RAWIO")).toBe(true);
  });

  test("EPERM: new permitted above old permitted", () => {
    const old = userCred(["CAP_CHOWN"]);
    const err = expectErrno(
      () =>
        capCapset(old, {
          effective: set(),
          permitted: set("CAP_CHOWN", "CAP_SYS_ADMIN"),
          inheritable: set(),
        }),
      "EPERM",
    );
    expect(err.fn).toBe("cap_capset");
  });

  test("EPERM: new effective above new permitted", () => {
    expectErrno(
      () =>
        capCapset(spawnCred(), {
          effective: set("CAP_CHOWN"),
          permitted: set(),
          inheritable: set(),
        }),
      "EPERM",
    );
  });

  test("EPERM: inheritable beyond inheritable | permitted without CAP_SETPCAP", () => {
    const old = userCred(["CAP_CHOWN"]);
    expectErrno(
      () =>
        capCapset(old, {
          effective: set(),
          permitted: set("CAP_CHOWN"),
          inheritable: set("CAP_KILL"),
        }),
      "EPERM",
    );
    // Within permitted it is allowed.
    const ok = capCapset(old, {
      effective: set(),
      permitted: set("CAP_CHOWN"),
      inheritable: set("CAP_CHOWN"),
    });
    expect(ok.capInheritable.names()).toEqual(["CAP_CHOWN"]);
  });

  test("CAP_SETPCAP lifts the inheritable cap up to the bounding set, not beyond", () => {
    const old: Cred = { ...userCred(["CAP_SETPCAP"]), capBset: set("CAP_SETPCAP", "CAP_KILL") };
    const ok = capCapset(old, {
      effective: set("CAP_SETPCAP"),
      permitted: set("CAP_SETPCAP"),
      inheritable: set("CAP_KILL"),
    });
    expect(ok.capInheritable.names()).toEqual(["CAP_KILL"]);
    expectErrno(
      () =>
        capCapset(old, {
          effective: set("CAP_SETPCAP"),
          permitted: set("CAP_SETPCAP"),
          inheritable: set("CAP_SYS_ADMIN"),
        }),
      "EPERM",
    );
  });

  test("ambient capabilities no longer permitted and inheritable are dropped", () => {
    const both = set("CAP_CHOWN", "CAP_KILL");
    const old: Cred = {
      ...userCred(["CAP_CHOWN", "CAP_KILL"]),
      capInheritable: both,
      capAmbient: both,
    };
    const next = capCapset(old, {
      effective: set(),
      permitted: set("CAP_CHOWN", "CAP_KILL"),
      inheritable: set("CAP_KILL"),
    });
    expect(next.capAmbient.names()).toEqual(["CAP_KILL"]);
  });
});

describe("capget(2)", () => {
  test("v3 header: both data structs carry the 64-bit sets", () => {
    const t = new FakeTask(spawnCred());
    expect(sysCapget(t, t.header(_LINUX_CAPABILITY_VERSION_3), t.data)).toBe(0);
    expect(t.readData(2)).toEqual([
      { effective: 0xffff_ffff, permitted: 0xffff_ffff, inheritable: 0 },
      { effective: 0x1ff, permitted: 0x1ff, inheritable: 0 },
    ]);
  });

  test("v2 header moves two structs too; own pid is the same as pid 0", () => {
    const t = new FakeTask(userCred(["CAP_BPF"]));
    sysCapget(t, t.header(_LINUX_CAPABILITY_VERSION_2, t.pid), t.data);
    expect(t.readData(2)[1]).toEqual({ effective: 1 << 7, permitted: 1 << 7, inheritable: 0 });
  });

  test("v1 header: one struct, the upper capabilities silently lost", () => {
    const t = new FakeTask(spawnCred());
    t.mm.writeUser(t.data, new Uint8Array(24).fill(0xaa));
    sysCapget(t, t.header(_LINUX_CAPABILITY_VERSION_1), t.data);
    const [lo, hi] = t.readData(2);
    expect(lo).toEqual({ effective: 0xffff_ffff, permitted: 0xffff_ffff, inheritable: 0 });
    expect(hi!.effective).toBe(0xaaaa_aaaa);
  });

  test("EINVAL for an unknown version, which the kernel overwrites with its own", () => {
    const t = new FakeTask(spawnCred());
    const err = expectErrno(() => sysCapget(t, t.header(0x1234), t.data), "EINVAL");
    expect(err.fn).toBe("cap_validate_magic");
    expect(t.headerVersion()).toBe(_KERNEL_CAPABILITY_VERSION);
  });

  test("NULL data probes the version: 0 even for an unknown one", () => {
    const t = new FakeTask(spawnCred());
    expect(sysCapget(t, t.header(0), 0)).toBe(0);
    expect(t.headerVersion()).toBe(_LINUX_CAPABILITY_VERSION_3);
    expect(sysCapget(t, t.header(_LINUX_CAPABILITY_VERSION_3), 0)).toBe(0);
  });

  test("EFAULT for an unreadable header, even with NULL data", () => {
    const t = new FakeTask(spawnCred());
    expectErrno(() => sysCapget(t, 0x10, t.data), "EFAULT");
    expectErrno(() => sysCapget(t, 0x10, 0), "EFAULT");
  });

  test("EFAULT when the preferred version cannot be written back", () => {
    const t = new FakeTask(spawnCred());
    // A read-only page holds a zero (unknown) version.
    expectErrno(() => sysCapget(t, t.ro, t.data), "EFAULT");
  });

  test("EINVAL for a negative pid", () => {
    const t = new FakeTask(spawnCred());
    const err = expectErrno(
      () => sysCapget(t, t.header(_LINUX_CAPABILITY_VERSION_3, -1), t.data),
      "EINVAL",
    );
    expect(err.fn).toBe("capget");
  });

  test("ESRCH for a pid that names no task; another task's sets otherwise", () => {
    const t = new FakeTask(spawnCred());
    const other = { cred: userCred(["CAP_CHOWN"]) };
    const deps = { findTaskByVpid: (pid: number) => (pid === 7 ? other : undefined) };
    const err = expectErrno(
      () => sysCapget(t, t.header(_LINUX_CAPABILITY_VERSION_3, 8), t.data, deps),
      "ESRCH",
    );
    expect(err.fn).toBe("cap_get_target_pid");
    sysCapget(t, t.header(_LINUX_CAPABILITY_VERSION_3, 7), t.data, deps);
    expect(t.readData(1)[0]).toEqual({ effective: 1, permitted: 1, inheritable: 0 });
  });

  test("EFAULT for unwritable data", () => {
    const t = new FakeTask(spawnCred());
    expectErrno(() => sysCapget(t, t.header(_LINUX_CAPABILITY_VERSION_3), t.ro), "EFAULT");
  });
});

describe("capset(2)", () => {
  test("drops CAP_SYS_RAWIO from the effective set, keeping it permitted", () => {
    const t = new FakeTask(spawnCred());
    t.writeData({
      effective: CapSet.FULL.without("CAP_SYS_RAWIO"),
      permitted: CapSet.FULL,
      inheritable: CapSet.EMPTY,
    });
    expect(sysCapset(t, t.header(_LINUX_CAPABILITY_VERSION_3), t.data)).toBe(0);
    expect(credCapable(t.cred, "CAP_SYS_RAWIO")).toBe(false);
    expect(t.cred.capPermitted.has("CAP_SYS_RAWIO")).toBe(true);
  });

  test("EPERM for another task's pid, before the data is read", () => {
    const t = new FakeTask(spawnCred());
    const err = expectErrno(
      () => sysCapset(t, t.header(_LINUX_CAPABILITY_VERSION_3, 1), 0x10),
      "EPERM",
    );
    expect(err.fn).toBe("capset");
    expect(t.commits).toBe(0);
  });

  test("EPERM when raising permitted; nothing changes", () => {
    const t = new FakeTask(userCred(["CAP_CHOWN"]));
    const before = t.cred;
    t.writeData({
      effective: CapSet.EMPTY,
      permitted: CapSet.of(["CAP_CHOWN", "CAP_SYS_RAWIO"]),
      inheritable: CapSet.EMPTY,
    });
    expectErrno(() => sysCapset(t, t.header(_LINUX_CAPABILITY_VERSION_3), t.data), "EPERM");
    expect(t.cred).toBe(before);
    expect(t.commits).toBe(0);
  });

  test("EINVAL for an unknown version, which is written back", () => {
    const t = new FakeTask(spawnCred());
    expectErrno(() => sysCapset(t, t.header(0xdead), t.data), "EINVAL");
    expect(t.headerVersion()).toBe(_LINUX_CAPABILITY_VERSION_3);
  });

  test("EFAULT for unreadable data; nothing changes", () => {
    const t = new FakeTask(spawnCred());
    expectErrno(() => sysCapset(t, t.header(_LINUX_CAPABILITY_VERSION_3), 0x10), "EFAULT");
    expect(t.commits).toBe(0);
  });

  test("a v1 header reads one struct and clears capabilities 32 and up", () => {
    const t = new FakeTask(spawnCred());
    t.writeData({ effective: CapSet.FULL, permitted: CapSet.FULL, inheritable: CapSet.EMPTY });
    sysCapset(t, t.header(_LINUX_CAPABILITY_VERSION_1), t.data);
    expect(t.cred.capPermitted.has("CAP_SETFCAP")).toBe(true);
    expect(t.cred.capPermitted.has("CAP_MAC_OVERRIDE")).toBe(false);
    expect(t.cred.capEffective.has("CAP_CHECKPOINT_RESTORE")).toBe(false);
  });

  test("bits above CAP_LAST_CAP are ignored, not refused", () => {
    const t = new FakeTask(spawnCred());
    const bytes = new Uint8Array(24);
    user_cap_data_struct.encodeInto(bytes, 0, { effective: 0xffff_ffff, permitted: 0xffff_ffff });
    user_cap_data_struct.encodeInto(bytes, 12, { effective: 0xffff_ffff, permitted: 0xffff_ffff });
    t.mm.writeUser(t.data, bytes);
    sysCapset(t, t.header(_LINUX_CAPABILITY_VERSION_3), t.data);
    expect(t.cred.capEffective.equals(CapSet.FULL)).toBe(true);
  });
});

describe("capset/capget by name (the Process facade)", () => {
  test("capget returns the caller's sets by name", () => {
    const t = new FakeTask(userCred(["CAP_SYS_RAWIO", "CAP_IPC_LOCK"]));
    expect(capgetNames(t)).toEqual({
      effective: ["CAP_IPC_LOCK", "CAP_SYS_RAWIO"],
      permitted: ["CAP_IPC_LOCK", "CAP_SYS_RAWIO"],
      inheritable: [],
    });
  });

  test("capset({ effective }) keeps permitted, so a dropped capability can come back", () => {
    const t = new FakeTask(spawnCred());
    capsetNames(t, { effective: ["CAP_CHOWN"] });
    expect(capgetNames(t).effective).toEqual(["CAP_CHOWN"]);
    expect(t.cred.capPermitted.equals(CapSet.FULL)).toBe(true);
    capsetNames(t, { effective: ["CAP_CHOWN", "CAP_SYS_ADMIN"] });
    expect(credCapable(t.cred, "CAP_SYS_ADMIN")).toBe(true);
  });

  test("capset({ permitted }) is for good: EPERM on the way back up", () => {
    const t = new FakeTask(spawnCred());
    capsetNames(t, { effective: [], permitted: ["CAP_CHOWN"] });
    expectErrno(() => capsetNames(t, { effective: ["CAP_SYS_RAWIO"] }), "EPERM");
    expectErrno(
      () => capsetNames(t, { effective: [], permitted: ["CAP_CHOWN", "CAP_KILL"] }),
      "EPERM",
    );
    expect(capgetNames(t).permitted).toEqual(["CAP_CHOWN"]);
  });

  test("EINVAL for a name the kernel does not know, before anything changes", () => {
    const t = new FakeTask(spawnCred());
    const err = expectErrno(
      () => capsetNames(t, { effective: ["CAP_SYS_RAWIO", "CAP_FLY" as CapabilityName] }),
      "EINVAL",
    );
    expect(err.fn).toBe("cap_from_name");
    expect(t.commits).toBe(0);
  });

  fcTest.prop([fc.subarray(ALL_NAMES), fc.subarray(ALL_NAMES)])(
    "capset succeeds exactly when effective ⊆ new permitted ⊆ old permitted",
    (oldPermitted, request) => {
      const t = new FakeTask(userCred(oldPermitted));
      const ok = request.every((n) => oldPermitted.includes(n));
      if (ok) {
        capsetNames(t, { effective: request, permitted: request });
        expect(capgetNames(t).permitted).toEqual(CapSet.of(request).names());
      } else {
        expectErrno(() => capsetNames(t, { effective: [], permitted: request }), "EPERM");
        expect(t.cred.capPermitted.equals(CapSet.of(oldPermitted))).toBe(true);
      }
    },
  );
});
