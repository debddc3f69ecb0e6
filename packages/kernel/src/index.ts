export { ERRNO_TABLE, type ErrnoName, errno, errnoName, SysError, strerror } from "./errno.js";
export type { UserMemory } from "./mm/user-memory.js";
export {
  accessOk,
  checkZeroedUser,
  clearUser,
  copyFromUser,
  copyStructFromUser,
  copyStructToUser,
  copyToUser,
  getUser,
  PATH_MAX,
  putUser,
  strncpyFromUser,
  TASK_SIZE_MAX,
} from "./uaccess.js";
export * from "./uapi/ioctl.js";
export * from "./uapi/struct.js";
