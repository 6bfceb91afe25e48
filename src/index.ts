/**
 * groundinggpt - GroundingGPT (ACL 2024) for Node.js and Electron.
 * @packageDocumentation
 */
export * from './errors';
export { loadModel, setLogger, Model } from './model';
export type {
  GenerateOptions,
  GenerateResult,
  GenerationStream,
  KvType,
  LoadModelOptions,
  LogLevel,
  Logger,
  ModelFiles,
  ModelInfo,
  StopReason,
  Timings,
} from './model';
export { SYSTEM_PROMPT, SEPARATOR, promptText, mediaBlocks, planSpans } from './prompt';
export type { ChatTurn, MediaKind, PlannedSpan, PromptInput } from './prompt';
import { native } from './native';

/** Compiled backends and CPU features of the native core. */
export function systemInfo(): string {
  return native().systemInfo();
}

export { convert, synth } from './convert/index';
export type { ConvertOptions, ConvertProgress, ConvertResult, ConvertType, HeadOverrides, SynthOptions, SynthResult, SynthSizes } from './convert/index';
