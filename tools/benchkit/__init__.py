# SPDX-License-Identifier: MIT
"""framecodec benchmark: size, fidelity, speed and memory against reference codecs.

For each clip of the corpus the first N frames are decoded once (PyAV, one thread, the clip's
own pixel format) and every codec is measured on those very same frames, in one run. Every
decoded frame is compared with its source frame: bit-exact for lossless points, max |error| <= N
for bounded points, and PSNR per plane, PSNR-YUV, max error and SSIM for every lossy point.

Codec keys (--codecs; video default: all but png,jpeg; --images default: png,jxl,jpegls,jpeg,
framecodec):

  ffv1        FFV1 -level 3 -coder 1 -context 1 -g 1 -slices 4 -slicecrc 1 (PyAV's FFmpeg)
  x264        libx264 lossless: -qp 0 -preset veryslow
  x265        libx265 lossless: -preset slow -x265-params lossless=1
  jxl         JPEG XL lossless, libjxl through imagecodecs, effort 7 (cjxl's default), one image
              per frame: Y/U/V planes as 3 channels when they have the same size (4:4:4, RGB),
              else each plane as a grey image
  png         PNG through imagecodecs (libpng, zlib level 9), optimised: the smallest of
              filters {none, paeth, adaptive} x strategies {default, filtered}; packed as jxl
  jpegls      JPEG-LS (CharLS through imagecodecs), each plane of each frame alone, NEAR = N
              for every --max-error N (0 = lossless)
  x264crf     libx264 -preset veryslow -tune psnr at each --crf (a ladder: no error bound)
  x265crf     libx265 -preset slow -tune psnr at each --crf (a ladder: no error bound)
  jpeg        JPEG (libjpeg-turbo through imagecodecs) at each --jpeg-quality, 4:4:4, optimised
              Huffman tables; RGB images as one colour JPEG, other planes as grey JPEGs
  framecodec  framecodec.encode / framecodec.decode_frames at each --max-error N

Speed: encode and decode fps with one thread (always) and with all cores (--threads-all: PyAV
thread_count 0 = auto, x265 default pools; per-frame image codecs code frames on a thread pool
of one worker per core; framecodec jobs=1, threads=cores). Only the coding calls are timed;
a call under 2 s runs up to three times (fresh children) and the fastest counts.
Memory: each encode and each decode runs in a child process of its own (this script with
--child); the child resets its peak RSS (/proc/self/clear_refs) once its inputs are loaded and
reports peak RSS (VmHWM) minus the RSS at that moment. --in-process skips the children (and
the memory figures).

Lossy points: PSNR per plane from the squared error summed over all frames; PSNR-YUV from the
planes' MSE weighted 6:1:1 (4:2:0) or 1:1:1 (4:4:4, RGB); SSIM (Wang et al. 2004, Gaussian
11x11); max |error|; and "size at equal PSNR": bytes / the bytes of a ladder (x264crf, x265crf,
jpeg) at the same PSNR-YUV, log(bytes) interpolated piecewise linearly, n/a outside the ladder.

Cache (--cache-dir, default .bench-cache/ in the repository, git-ignored by its own .gitignore):
one JSON file per measurement, named by the SHA-256 of: the clip file's SHA-256, the number of
frames, codec key, operating point, the codec's settings (options, threads), the codec's
version (PyAV + FFmpeg versions; imagecodecs + CharLS/libjxl/libpng/libjpeg-turbo versions;
framecodec: __version__ + SHA-256 of its package source files + numba version),
the source decoder's version and the bench's MEASURE_VERSION. A re-run measures only what
changed; --no-cache measures everything again (and refreshes the entries).

Examples::

    python tools/bench.py --codecs ffv1,x264,jpegls --frames 10
    python tools/bench.py --codecs framecodec,ffv1,x264,jpegls --max-error 0,1 --json out.json
    python tools/bench.py --report docs/bench          # docs/bench/results.{md,json}, *.png
    python tools/bench.py --images DIR --report /tmp/img-bench
"""
