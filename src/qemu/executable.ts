/** The QEMU binary looked up on PATH when none is given (a module of its own: the CLI's help needs it). */
export const QEMU_EXECUTABLE = "qemu-system-x86_64";
