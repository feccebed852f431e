// migration/savevm.h, migration/ram.h, migration/ram.c, migration/multifd.h: the numbers of the format.
// The independent oracle keeps its own copy on purpose: a wrong constant here is caught there.

/** "QEVM" */
export const QEMU_VM_FILE_MAGIC = 0x5145564d;
export const QEMU_VM_FILE_VERSION = 3;
/** version 2: rejected on load ("SaveVM v2 format is obsolete and don't work anymore") */
export const QEMU_VM_FILE_VERSION_COMPAT = 2;

/** Top-level record types of the migration stream (savevm.c). */
export const QEMU_VM_EOF = 0x00;
export const QEMU_VM_SECTION_START = 0x01;
export const QEMU_VM_SECTION_PART = 0x02;
export const QEMU_VM_SECTION_END = 0x03;
export const QEMU_VM_SECTION_FULL = 0x04;
export const QEMU_VM_SUBSECTION = 0x05;
export const QEMU_VM_VMDESCRIPTION = 0x06;
export const QEMU_VM_CONFIGURATION = 0x07;
export const QEMU_VM_COMMAND = 0x08;
export const QEMU_VM_SECTION_FOOTER = 0x7e;

/** enum qemu_vm_cmd: MIG_CMD_SWITCHOVER_START (new in 10.0, length 0). */
export const MIG_CMD_SWITCHOVER_START = 0x0b;

/** x86_64 target page. */
export const TARGET_PAGE_BITS = 12;
export const TARGET_PAGE_SIZE = 1 << TARGET_PAGE_BITS;
export const TARGET_PAGE_SIZE_N = BigInt(TARGET_PAGE_SIZE);
export const TARGET_PAGE_MASK_N = TARGET_PAGE_SIZE_N - 1n;

/** RAM record flags: low TARGET_PAGE_BITS bits of each be64 record word (ram.h). */
export const RAM_SAVE_FLAG_ZERO = 0x002n;
export const RAM_SAVE_FLAG_MEM_SIZE = 0x004n;
export const RAM_SAVE_FLAG_PAGE = 0x008n;
export const RAM_SAVE_FLAG_EOS = 0x010n;
export const RAM_SAVE_FLAG_CONTINUE = 0x020n;
export const RAM_SAVE_FLAG_XBZRLE = 0x040n;
export const RAM_SAVE_FLAG_HOOK = 0x080n;
export const RAM_SAVE_FLAG_MULTIFD_FLUSH = 0x200n;
/** Flags that ram_load_precopy refuses in a mapped-ram stream ("Unexpected RAM flags: %d"). */
export const RAM_FLAGS_INVALID_WITH_MAPPED_RAM =
  RAM_SAVE_FLAG_HOOK |
  RAM_SAVE_FLAG_MULTIFD_FLUSH |
  RAM_SAVE_FLAG_PAGE |
  RAM_SAVE_FLAG_XBZRLE |
  RAM_SAVE_FLAG_ZERO;

/** struct MappedRamHeader (ram.c), packed, big endian. */
export const MAPPED_RAM_HDR_VERSION = 1;
export const MAPPED_RAM_HEADER_SIZE = 28;
/** pages_offset is rounded up to this absolute file offset (ram.c, chosen for O_DIRECT). */
export const MAPPED_RAM_FILE_OFFSET_ALIGNMENT = 0x100000n;
/** The loader reads runs of set bits in chunks of at most this many bytes. */
export const MAPPED_RAM_LOAD_BUF_SIZE = 0x100000;

/** multifd.h */
export const MULTIFD_PACKET_SIZE = 512 * 1024;
/** pages per multifd batch/packet for 4 KiB pages */
export const MULTIFD_PAGES_PER_PACKET = MULTIFD_PACKET_SIZE / TARGET_PAGE_SIZE;
