// Writes a SaveScenario (suites/helpers/scenario.ts) with the reference writer, as a stopped `-M none` VM
// whose RAM blocks hold the scenario's pages, saved with the scenario's later rounds.
import { listedCapabilities } from "../../src/impl/configuration.js";
import { MACHINE_NONE, vmdescJson } from "../../src/impl/machine.js";
import { ramListOrder } from "../../src/impl/save.js";
import { MemorySource } from "../../src/impl/source.js";
import { type DirtyPage, type SaveBlock, type SaveResult, saveMappedRam } from "../../src/impl/writer.js";
import { imageOf, pageBytes, type SaveScenario } from "./scenario.js";

/** Writes `s` at `path`; `channels` overrides the scenario's channel count (null: multifd off). */
export async function writeSaveScenario(
  path: string,
  s: SaveScenario,
  channels: number | null = s.channels,
): Promise<SaveResult> {
  const caps = new Set(["mapped-ram", ...(s.ignoreShared ? ["x-ignore-shared"] : [])]);
  const configuration = { machineName: MACHINE_NONE.machineName, capabilities: listedCapabilities(caps) };
  const devices = MACHINE_NONE.devices("prelaunch");
  const blocks: SaveBlock[] = s.blocks.map((b, i) => ({
    idstr: b.idstr,
    usedLength: BigInt(b.pages.length * 4096),
    image: new MemorySource(imageOf(b.pages)),
    ...(s.ignoreShared ? { mrAddr: s.mrAddrs[i] ?? 0n } : {}),
  }));
  const rounds: DirtyPage[][] = s.rounds.map((round) =>
    round.flatMap((d) => {
      const b = s.blocks[d.block];
      return b ? [{ block: b.idstr, page: d.page, data: pageBytes(d.kind) }] : [];
    }),
  );
  return saveMappedRam(path, {
    offset: s.offset,
    configuration,
    ramSection: MACHINE_NONE.ramSection,
    blocks: ramListOrder(blocks),
    partSections: s.partSections,
    switchoverStart: MACHINE_NONE.switchoverStart,
    devices,
    vmdesc: vmdescJson(configuration, devices),
    zeroPageDetection: s.zpd,
    multifdChannels: channels,
    rounds,
  });
}
