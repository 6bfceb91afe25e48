/**
 * groundinggpt - GroundingGPT (ACL 2024) for Node.js and Electron.
 * @packageDocumentation
 */
export * from './errors';
export { loadModel } from './load';
export { TOWER_MATMULS } from './types';
export { setLogger } from './logging';
export { Model } from './model';
export type {
  GenerateOptions,
  GenerateResult,
  GenerationStream,
  KvType,
  TowerMatmul,
  LoadModelOptions,
  LogLevel,
  Logger,
  ModelFiles,
  ModelInfo,
  ModelMemory,
  StopReason,
  Timings,
  GroundOptions,
  GroundProgress,
  GroundResult,
  ImageGroundResult,
  VideoGroundResult,
  AudioGroundResult,
  GroundTimings,
  ImageGeometry,
  MediaOptions,
  Embedding,
  ChatMedia,
  ChatOptions,
} from './types';
export { Chat } from './chat';
export { DEFAULT_FEATURE_CACHE_BYTES } from './features';
export { decodeImage, decodeVideo, decodeAudio, probeVideo, sampleIndices, paddedSquare, drawBoxes, drawVideoStrip, drawWaveform } from './media/index';
export { DEFAULT_LIMIT_INPUT_PIXELS } from './media/index';
export type {
  ImageInput,
  RawImage,
  VideoInput,
  RawVideo,
  AudioInput,
  RawAudio,
  DecodedImage,
  DecodedVideo,
  DecodedAudio,
  VideoInfo,
  SharpLike,
  ImageSourceInfo,
  PaddedSquare,
  DecodeImageOptions,
  DecodeVideoOptions,
  DecodeAudioOptions,
  ProbeVideoOptions,
  VideoProgress,
  DrawBox,
  DrawBoxesOptions,
  StripFrames,
  DrawSpan,
  DrawVideoStripOptions,
  DrawClip,
  DrawWaveformOptions,
} from './media/index';
export { parseBoxes, parseSpans } from './parse/index';
export type { Box, BoxFlag, GroundedBox, ParsedBoxes, GroundedSpan, SpanFlag, ParsedSpans, ImageSize, MalformedLiteral } from './parse/index';
export { SYSTEM_PROMPT, SEPARATOR, promptText, mediaBlocks, planSpans } from './prompt';
export type { ChatTurn, MediaKind, PlannedSpan, PromptInput, PatchTokenIds } from './prompt';
import { native } from './native';
export { setAddonPath } from './native';

/** Compiled backends and CPU features of the native core. */
export function systemInfo(): string {
  return native().systemInfo();
}

export { convert, synth } from './convert/index';
export type { ConvertOptions, ConvertProgress, ConvertResult, ConvertType, HeadOverrides, SynthOptions, SynthResult, SynthSizes } from './convert/index';
export type { DeepPartial } from './convert/synth';
export { pull, listModels, removeModel, DEFAULT_MODEL, MODELS, modelHome } from './pull/index';
export { createServer } from './serve/server';
export type { GroundingServer, ServerOptions, ServerAddress, RequestLogEntry } from './serve/server';
export type { PullOptions, PullProgress, PullPlan, PullPlanFile, PullResult, CachedModel, Licence, ModelSpec, RepoRef } from './pull/index';
export { evaluate, EVAL_TASKS, TASK_SPLITS, DEFAULT_PROMPTS, PAPER } from './eval/index';
export type { EvaluateOptions, EvalProgress, EvalTask, EvalRecord, EvalSummary, EvalSplitSummary } from './eval/index';
