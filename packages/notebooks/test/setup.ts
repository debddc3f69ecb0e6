import { setupKernelMatchers } from "@vfio-lab/kernel/testing";

setupKernelMatchers();
