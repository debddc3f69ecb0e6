import { F_GETFD, FD_CLOEXEC, POLLIN, POLLOUT, PROT_READ, type Process } from "@vfio-lab/kernel";
import { describe, expect, it } from "vitest";
import { devSetup, faultAlloc } from "../test/device-fixture.js";
import { destroy, ioctlStruct, type World } from "../test/fixture.js";
import { IommufdFault, type IopfGroup } from "./eventq.js";
import { iommufdOf } from "./main.js";
import {
  IOMMU_FAULT_QUEUE_ALLOC,
  IOMMU_VEVENTQ_ALLOC,
  IOMMU_VEVENTQ_TYPE_ARM_SMMUV3,
  IOMMUFD_PAGE_RESP_INVALID,
  IOMMUFD_PAGE_RESP_SUCCESS,
  iommu_fault_alloc,
  iommu_hwpt_page_response,
  iommu_hwpt_pgfault,
  iommu_veventq_alloc,
} from "./uapi.js";

function respond(p: Process, fd: number, cookie: number, code: number, count = 8): number {
  const va = p.malloc(16);
  p.poke(va, iommu_hwpt_page_response.encode({ cookie, code }));
  return p.write(fd, va, count);
}

describe("IOMMU_FAULT_QUEUE_ALLOC", () => {
  it("returns a FAULT object and a close-on-exec fd at the lowest free number", () => {
    const w = devSetup();
    const q = faultAlloc(w);
    expect(q.id).toBe(1);
    expect(q.fd).toBe(w.fd + 1);
    expect(w.p.fcntl(q.fd, F_GETFD) & FD_CLOEXEC).toBe(FD_CLOEXEC);
    expect(w.p.readlink(`/proc/self/fd/${q.fd}`)).toBe("anon_inode:[iommufd-pgfault]");
    expect(w.ictx.objects.peek(q.id)).toBeInstanceOf(IommufdFault);
  });

  it("is EOPNOTSUPP for any flag", () => {
    const w = devSetup();
    expect(() => faultAlloc(w, 1)).toThrowErrno("EOPNOTSUPP");
    expect(w.ictx.objects.isEmpty()).toBe(true);
  });

  it("is EMFILE with no descriptor left, leaving no object and no file", () => {
    const w = devSetup({ spawn: { comm: "t", rlimits: { nofile: 1 } } });
    expect(() => faultAlloc(w)).toThrowErrno("EMFILE");
    expect(w.ictx.objects.isEmpty()).toBe(true);
    // The file went with the object: nothing holds the context any more.
    w.p.close(w.fd);
    expect(iommufdOf(w.kernel).contexts.size).toBe(0);
  });

  it("is EFAULT when the answer cannot be written: no fd is installed", () => {
    const w = devSetup();
    const va = w.p.malloc(4096);
    w.p.poke(
      va,
      iommu_fault_alloc.encode({ size: 16, flags: 0, out_fault_id: 0, out_fault_fd: 0 }),
    );
    w.p.mprotect(va, 4096, PROT_READ);
    expect(() => w.p.ioctl(w.fd, IOMMU_FAULT_QUEUE_ALLOC, va)).toThrowErrno("EFAULT");
    expect(w.ictx.objects.isEmpty()).toBe(true);
    expect(() => w.p.fcntl(w.fd + 1, F_GETFD)).toThrowErrno("EBADF");
  });

  it("is ENOMEM when the object cannot be allocated", () => {
    const w = devSetup();
    w.kernel.allocator.setFailHook((s) => s === "kzalloc");
    expect(() => faultAlloc(w)).toThrowErrno("ENOMEM");
    w.kernel.allocator.setFailHook(undefined);
    expect(w.ictx.objects.isEmpty()).toBe(true);
  });
});

describe("the fault queue file", () => {
  function queue() {
    const w = devSetup();
    return { w, ...faultAlloc(w) };
  }

  it("reads nothing while no fault is pending (reads never block)", () => {
    const { w, fd } = queue();
    const buf = w.p.malloc(80);
    expect(w.p.read(fd, buf, 40)).toBe(0);
    expect(w.p.read(fd, buf, 80)).toBe(0);
    expect(w.p.read(fd, buf, 0)).toBe(0);
  });

  it("is ESPIPE for a read that is not a whole number of records, or a pread", () => {
    const { w, fd } = queue();
    const buf = w.p.malloc(80);
    expect(() => w.p.read(fd, buf, 39)).toThrowErrno("ESPIPE");
    expect(() => w.p.pread(fd, buf, 40, 0)).toThrowErrno("ESPIPE");
  });

  it("is ESPIPE for a write that is not a whole number of responses", () => {
    const { w, fd } = queue();
    expect(() => respond(w.p, fd, 1, IOMMUFD_PAGE_RESP_SUCCESS, 7)).toThrowErrno("ESPIPE");
    expect(respond(w.p, fd, 1, IOMMUFD_PAGE_RESP_SUCCESS, 0)).toBe(0);
  });

  it("is EINVAL for a response to an unknown cookie or with an unknown code", () => {
    const { w, fd } = queue();
    expect(() => respond(w.p, fd, 1, IOMMUFD_PAGE_RESP_SUCCESS)).toThrowErrno("EINVAL");
    expect(() => respond(w.p, fd, 1, 5)).toThrowErrno("EINVAL");
  });

  it("polls writable, and readable only while faults wait", () => {
    const { w, fd } = queue();
    expect(w.p.poll([{ fd, events: POLLIN | POLLOUT }], 0)).toEqual([{ fd, revents: POLLOUT }]);
  });

  it("delivers a fault group whole, then takes its response by cookie", () => {
    const { w, id, fd } = queue();
    const fault = w.ictx.objects.peek(id) as IommufdFault;
    const responses: number[] = [];
    const group: IopfGroup = {
      faults: [
        { flags: 0, pasid: 0, grpid: 7, perm: 1, addr: 0x1000n },
        { flags: 2, pasid: 0, grpid: 7, perm: 1, addr: 0x2000n },
      ],
      attachHandle: { idev: { id: 42 } } as IopfGroup["attachHandle"],
      cookie: 0,
      respond: (code) => responses.push(code),
    };
    fault.deliver.push(group);
    expect(w.p.poll([{ fd, events: POLLIN }], 0)[0]!.revents & POLLIN).toBe(POLLIN);
    const buf = w.p.malloc(120);
    // A buffer for one record cannot take the two-record group.
    expect(() => w.p.read(fd, buf, 40)).toThrowErrno("EINVAL");
    expect(w.p.read(fd, buf, 120)).toBe(80);
    const rec = iommu_hwpt_pgfault.decode(w.p.peek(buf + 40, 40));
    expect(rec).toMatchObject({ flags: 2, dev_id: 42, grpid: 7, addr: 0x2000n, cookie: 1 });
    expect(respond(w.p, fd, 1, IOMMUFD_PAGE_RESP_SUCCESS)).toBe(8);
    expect(responses).toEqual([IOMMUFD_PAGE_RESP_SUCCESS]);
    // Closing answers whatever is left INVALID.
    fault.deliver.push({ ...group, respond: (code) => responses.push(code) });
    w.p.close(fd);
    destroy(w, id);
    expect(responses).toEqual([IOMMUFD_PAGE_RESP_SUCCESS, IOMMUFD_PAGE_RESP_INVALID]);
  });

  it("holds its object: DESTROY is EBUSY until the fd is closed", () => {
    const { w, id, fd } = queue();
    expect(() => destroy(w, id)).toThrowErrno("EBUSY");
    w.p.close(fd);
    destroy(w, id);
    expect(w.ictx.objects.peek(id)).toBeUndefined();
  });

  it("holds the iommufd: closing /dev/iommu first leaves the queue usable", () => {
    const { w, fd } = queue();
    w.p.close(w.fd);
    expect(iommufdOf(w.kernel).contexts.size).toBe(1);
    expect(w.p.read(fd, w.p.malloc(40), 40)).toBe(0);
    w.p.close(fd);
    expect(iommufdOf(w.kernel).contexts.size).toBe(0);
  });
});

describe("IOMMU_VEVENTQ_ALLOC (no vIOMMU can exist on the board)", () => {
  function alloc(w: World, a: Partial<Record<string, number>>) {
    return ioctlStruct(w, IOMMU_VEVENTQ_ALLOC, iommu_veventq_alloc, {
      size: 0,
      flags: a.flags ?? 0,
      viommu_id: a.viommuId ?? 1,
      type: a.type ?? IOMMU_VEVENTQ_TYPE_ARM_SMMUV3,
      veventq_depth: a.depth ?? 1,
      out_veventq_id: 0,
      out_veventq_fd: 0,
      __reserved: a.reserved ?? 0,
    });
  }

  it("is EOPNOTSUPP for flags, __reserved or the DEFAULT type", () => {
    const w = devSetup();
    expect(() => alloc(w, { flags: 1 })).toThrowErrno("EOPNOTSUPP");
    expect(() => alloc(w, { reserved: 1 })).toThrowErrno("EOPNOTSUPP");
    expect(() => alloc(w, { type: 0 })).toThrowErrno("EOPNOTSUPP");
  });

  it("is EINVAL for a depth of 0 or above 2^19", () => {
    const w = devSetup();
    expect(() => alloc(w, { depth: 0 })).toThrowErrno("EINVAL");
    expect(() => alloc(w, { depth: (1 << 19) + 1 })).toThrowErrno("EINVAL");
  });

  it("is ENOENT for a viommu_id that is not a vIOMMU", () => {
    const w = devSetup();
    expect(() => alloc(w, {})).toThrowErrno("ENOENT");
    const q = faultAlloc(w);
    expect(() => alloc(w, { viommuId: q.id })).toThrowErrno("ENOENT");
  });
});
