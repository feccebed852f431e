// migration/savevm.c + ram.c (ram_save_setup, ram_save_iterate, ram_save_complete, save_zero_page,
// save_page_header) + multifd-nocomp.c (multifd_ram_flush_and_sync): the main channel of a precopy
// migration over sockets with multifd, "packets mode". Observed from QEMU 10.0.2 (-M none, -S):
//
//   QEVM 3 | 07 configuration (no capabilities subsection: multifd is not validated)
//   01 START "ram" | be64 total|MEM_SIZE | per block: u8 len, idstr, be64 used_length | be64 MULTIFD_FLUSH | EOS | 7e
//   02 PART        | [legacy zero pages: be64 addr|ZERO[|CONTINUE], [u8 len, idstr], u8 0]… | MULTIFD_FLUSH | EOS | 7e
//   08 SWITCHOVER_START
//   03 END         | MULTIFD_FLUSH | EOS | 7e
//   04 FULL device sections | 00 EOF | 06 vmdesc
//
// Each MULTIFD_FLUSH follows one SYNC packet on every multifd channel (multifd_send_sync_main with
// MULTIFD_SYNC_ALL): one in setup, one each time the dirty scan wraps (find_dirty_block).
import { ByteWriter } from "../bytes.js";
import { type Configuration, encodeConfiguration } from "../configuration.js";
import {
  MIG_CMD_SWITCHOVER_START,
  type QEMU_VM_SECTION_END,
  type QEMU_VM_SECTION_PART,
  QEMU_VM_SECTION_START,
  RAM_SAVE_FLAG_CONTINUE,
  RAM_SAVE_FLAG_EOS,
  RAM_SAVE_FLAG_MEM_SIZE,
  RAM_SAVE_FLAG_MULTIFD_FLUSH,
  RAM_SAVE_FLAG_ZERO,
} from "../constants.js";
import type { DeviceSection } from "../machine.js";
import {
  encodeCommand,
  encodeEof,
  encodeFileHeader,
  encodeFullSection,
  encodeSectionFooter,
  encodeSectionHeader,
  encodeSectionShortHeader,
  encodeVmdesc,
  type SectionId,
} from "../sections.js";

export interface ComposerBlock {
  idstr: string;
  usedLength: bigint;
  /** be64 mr->addr, written when x-ignore-shared is listed */
  mrAddr?: bigint;
}

/**
 * Builds the main channel's bytes in order, like QEMUFile's buffer: call the record methods, then `take()`
 * what has accumulated and write it to the socket.
 */
export class MainChannelComposer {
  #w = new ByteWriter(64 * 1024);
  /** pss->last_sent_block: the block named by the last page header (RAM_SAVE_FLAG_CONTINUE) */
  #lastSentBlock: string | undefined;

  constructor(readonly ramSection: SectionId) {}

  /** Bytes waiting to be written. */
  get pending(): number {
    return this.#w.length;
  }

  /** Hands over the bytes composed so far. */
  take(): Uint8Array {
    const b = this.#w.finish();
    this.#w = new ByteWriter(64 * 1024);
    return b;
  }

  /** qemu_savevm_state_header: magic, version, configuration. */
  header(cfg: Configuration): this {
    this.#w.bytes(encodeFileHeader()).bytes(encodeConfiguration(cfg));
    return this;
  }

  /** ram_save_setup up to (not including) the setup sync: START header, MEM_SIZE, the block list. */
  ramStart(blocks: readonly ComposerBlock[], ignoreShared = false): this {
    const total = blocks.reduce((s, b) => s + b.usedLength, 0n);
    this.#w
      .bytes(encodeSectionHeader(QEMU_VM_SECTION_START, this.ramSection))
      .u64be(total | RAM_SAVE_FLAG_MEM_SIZE);
    for (const b of blocks) {
      this.#w.countedString(b.idstr).u64be(b.usedLength);
      if (ignoreShared) this.#w.u64be(b.mrAddr ?? 0n);
    }
    return this;
  }

  /** SECTION_PART or SECTION_END header of the RAM section. */
  ramIterate(type: typeof QEMU_VM_SECTION_PART | typeof QEMU_VM_SECTION_END): this {
    this.#w.bytes(encodeSectionShortHeader(type, this.ramSection.sectionId));
    return this;
  }

  /** multifd_ram_flush_and_sync's record after the SYNC packets. */
  multifdFlush(): this {
    this.#w.u64be(RAM_SAVE_FLAG_MULTIFD_FLUSH);
    return this;
  }

  /** save_zero_page (legacy detection): page header with ZERO, then a 0 byte. */
  zeroPage(idstr: string, offset: bigint): this {
    const same = this.#lastSentBlock === idstr;
    this.#w.u64be(offset | RAM_SAVE_FLAG_ZERO | (same ? RAM_SAVE_FLAG_CONTINUE : 0n));
    if (!same) {
      this.#w.countedString(idstr);
      this.#lastSentBlock = idstr;
    }
    this.#w.u8(0);
    return this;
  }

  /** RAM_SAVE_FLAG_EOS and the section footer. */
  ramEos(): this {
    this.#w.u64be(RAM_SAVE_FLAG_EOS).bytes(encodeSectionFooter(this.ramSection.sectionId));
    return this;
  }

  switchoverStart(): this {
    this.#w.bytes(encodeCommand(MIG_CMD_SWITCHOVER_START));
    return this;
  }

  device(d: DeviceSection): this {
    this.#w.bytes(encodeFullSection(d.section, d.payload));
    return this;
  }

  eof(vmdesc: string | null): this {
    this.#w.bytes(encodeEof());
    if (vmdesc !== null) this.#w.bytes(encodeVmdesc(vmdesc));
    return this;
  }
}
