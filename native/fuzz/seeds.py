#!/usr/bin/env python3
"""Seed corpora for the libFuzzer targets (docs/RELIABILITY.md "Fuzzing"), from real files:
the converted tiny golden model (encoders.gguf, llm.gguf) and the golden media decoded by ffmpeg.
Writes into OUT/<target>/ (an ignored folder: build/fuzz/corpus); nothing here is committed.

  seeds.py OUT --encoders encoders.gguf --llm llm.gguf --media ../shared/golden/media
"""
import argparse
import os
import struct
import subprocess

GGUF_SCALAR = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def gguf_meta_end(b):
    """Offset just past the tensor infos of a GGUF v3 file (where the alignment padding starts)."""
    pos = 4
    _ver, n_t, n_kv = struct.unpack_from('<IQQ', b, pos)
    pos += 20

    def string(pos):
        (n,) = struct.unpack_from('<Q', b, pos)
        return pos + 8 + n

    def value(pos, t):
        if t == 8:
            return string(pos)
        if t == 9:
            at, n = struct.unpack_from('<IQ', b, pos)
            pos += 12
            for _ in range(n):
                pos = value(pos, at)
            return pos
        return pos + GGUF_SCALAR[t]

    for _ in range(n_kv):
        pos = string(pos)
        (t,) = struct.unpack_from('<I', b, pos)
        pos = value(pos + 4, t)
    for _ in range(n_t):
        pos = string(pos)
        (nd,) = struct.unpack_from('<I', b, pos)
        pos += 4 + 8 * nd + 4 + 8
    return pos


def write(d, name, data):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


def gguf_seeds(out, target, path, max_full):
    b = open(path, 'rb').read()
    end = gguf_meta_end(b)
    # metadata without tensor data (the targets supply the data as zeros), at both parities: odd
    # lengths take the mmap path
    meta = b[:end]
    write(os.path.join(out, target), 'meta_even' if len(meta) % 2 == 0 else 'meta_odd', meta)
    write(os.path.join(out, target), 'meta_odd' if len(meta) % 2 == 0 else 'meta_even', b[:end + 1])
    write(os.path.join(out, target), 'head_64', b[:64])
    if len(b) <= max_full:
        write(os.path.join(out, target), 'full', b)
    return len(b), end


def ffmpeg(args):
    return subprocess.run(['ffmpeg', '-v', 'error', *args, '-'], check=True, stdout=subprocess.PIPE).stdout


def image_seeds(out, media):
    d = os.path.join(out, 'fuzz_image_preprocess')
    mean = (0.48145466, 0.4578275, 0.40821073)
    std = (0.26862954, 0.26130258, 0.27577711)
    n = 0
    for img in ('dog_image.jpg', 'test-1.jpeg'):
        for (w, h) in ((32, 24), (7, 40), (64, 64), (200, 3)):
            px = ffmpeg(['-i', os.path.join(media, img), '-vf', f'scale={w}:{h}', '-f', 'rawvideo', '-pix_fmt', 'rgb24'])
            for size, flags, slack in ((14, 0, 4), (33, 1, 9), (1, 2, 4), (64, 8, 4)):
                hdr = struct.pack('<HHBBB6f', w - 1, h - 1, slack, size - 1, flags, *mean, *std)
                write(d, f'img{n:02d}', hdr + px)
                n += 1
    return n


def audio_seeds(out, media):
    d = os.path.join(out, 'fuzz_audio_preprocess')
    wav = os.path.join(media, 'dog_audio.wav')
    n = 0
    for rate, ch, n_samp in ((16000, 1, 16000), (44100, 2, 9000), (8000, 1, 300), (22050, 1, 30000)):
        pcm = ffmpeg(['-i', wav, '-t', '3', '-ar', str(rate), '-ac', str(ch), '-f', 's16le'])[: 2 * ch * n_samp]
        for flags, target in ((0x4c, 0), (0x0e, 0), (0x24, 1), (0x08, 3)):
            # 0x4c: the model's parameters; 0x0e: these as given (3 clips of 0.5 s, 64 mels, 50
            # frames); others: the small set decoded from the same fields (2 clips of 5/16 s, 64 mels,
            # 50 frames)
            small = not flags & 0x42
            hdr = struct.pack('<BIBIBIbfHHff', flags, rate - 1000, ch, len(pcm) // (2 * ch) - 1, target, 16000,
                              1 if small else 3, 0.5, 60 if small else 64, (4 << 8) + 49 if small else 50,
                              -4.268, 9.138)
            write(d, f'aud{n:02d}', hdr + pcm)
            n += 1
    return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('out')
    ap.add_argument('--encoders', required=True)
    ap.add_argument('--llm', required=True)
    ap.add_argument('--media', required=True)
    ap.add_argument('--max-full', type=int, default=0, help='model files up to this size are also copied whole')
    a = ap.parse_args()
    e = gguf_seeds(a.out, 'fuzz_encoders_load', a.encoders, a.max_full)
    l = gguf_seeds(a.out, 'fuzz_llm_check', a.llm, a.max_full)
    ni = image_seeds(a.out, a.media)
    na = audio_seeds(a.out, a.media)
    print(f'seeds: encoders {e[0]} bytes (metadata {e[1]}), llm {l[0]} bytes (metadata {l[1]}), '
          f'{ni} image, {na} audio inputs in {a.out}')


main()
