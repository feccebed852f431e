// Public surface of packets mode (multifd over sockets, mapped-ram off): wire format, main channel, sender,
// receiver. Named exports only.
export {
  type CheckedPacket,
  type CheckedPacketHeader,
  type CheckedPages,
  checkMultiFDInit,
  checkMultiFDPacket,
  checkMultiFDPacketHeader,
  checkMultiFDPacketPages,
  decodeMultiFDInit,
  decodeMultiFDPacketHeader,
  encodeMultiFDInit,
  encodeMultiFDPacket,
  encodeSyncPacket,
  type KnownBlock,
  MULTIFD_FLAG_COMPRESSION_MASK,
  MULTIFD_FLAG_DEVICE_STATE,
  MULTIFD_FLAG_NOCOMP,
  MULTIFD_FLAG_SYNC,
  MULTIFD_INIT_SIZE,
  MULTIFD_MAGIC,
  MULTIFD_PACKET_HEADER_SIZE,
  MULTIFD_PAGE_COUNT,
  MULTIFD_VERSION,
  type MultiFDInit,
  type MultiFDPacketFields,
  type MultiFDPacketHeader,
  type WireContext,
} from "./packet.js";
export { type ComposerBlock, MainChannelComposer } from "./precopy-compose.js";
export {
  MAX_MEM_SIZE,
  type MainChannelHooks,
  type MainChannelSummary,
  parseMainChannel,
  type ReceivedDevice,
  type StreamBlock,
} from "./precopy-parse.js";
export { mappedRamPlan, type ReceivedBlock, type ReceiveOutput, receiveOutput } from "./received-ram.js";
export {
  type ReceivedChannel,
  type ReceiveOptions,
  type ReceiveResult,
  type Receiver,
  receiveMigration,
  startReceiver,
} from "./receiver.js";
export {
  partitionZeroPages,
  type SendOptions,
  type SendResult,
  type SentChannel,
  sendMigration,
} from "./sender.js";
export { SocketReader, StreamCursor } from "./socket-reader.js";
export { formatSocketAddress, parseSocketAddress, type SocketAddress } from "./transport.js";
