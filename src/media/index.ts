/**
 * Media decoding outside the numeric core (sharp for pictures, ffmpeg for video and audio) and
 * drawing of results. The core takes what these return: RGB8 pixels, 224x224 RGB8 frames, float
 * PCM at the native rate.
 */
export { decodeImage, paddedSquare, toRgb8, DEFAULT_LIMIT_INPUT_PIXELS } from './image';
export type { ImageInput, RawImage, SharpLike, DecodeImageOptions, DecodedImage, ImageSourceInfo, PaddedSquare } from './image';
export { decodeVideo, decodeVideoFrames, probeVideo, sampleIndices, DEFAULT_MAX_FRAMES, DEFAULT_FRAME_SIZE, FALLBACK_FPS } from './video';
export type {
  VideoInput,
  RawVideo,
  DecodeVideoOptions,
  DecodedVideo,
  DecodeVideoFramesOptions,
  DecodedFrames,
  VideoInfo,
  VideoProgress,
  ProbeVideoOptions,
} from './video';
export { decodeAudio, MIN_SAMPLE_RATE, MAX_SAMPLE_RATE, MAX_CHANNELS, DEFAULT_MAX_AUDIO_DURATION } from './audio';
export type { AudioInput, RawAudio, DecodeAudioOptions, DecodedAudio } from './audio';
export { resolveFFmpeg, resolveFFmpegOnly, runningChildren } from './ffmpeg';
export type { FFmpegOptions, ResolvedFFmpeg } from './ffmpeg';
export { drawBoxes, drawVideoStrip, drawWaveform } from './draw';
export type { DrawBox, DrawBoxesOptions, StripFrames, DrawSpan, DrawVideoStripOptions, DrawClip, DrawWaveformOptions } from './draw';
