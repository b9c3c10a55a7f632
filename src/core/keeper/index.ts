export { KeeperError, type KeeperErrorReason, type StreamResetInfo } from './errors';
export { FrameDecoder, MAX_FRAME, PROTOCOL_VERSION } from './frames';
export { startKeeper, newKeeperSecret, type KeeperLocation, type KeeperStartOptions } from './installer';
export { KeeperMux, type KeeperMuxOptions, type MuxState } from './mux';
export { KeeperStream, type CloseInfo, type StreamParams } from './stream';
export { openKeeperTransport, openExecRelay, openStreamLocal, type KeeperTransportMode } from './transport';
export type { Welcome } from './welcome';
