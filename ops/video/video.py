"""Video decoding, resizing and JPEG helpers (OpenCV only, pip-installable).

The reader is shared by every stage that touches raw videos::

    info = probe_video("v.mp4")                  # fps, num_frames, width, height
    for frame in iter_frames("v.mp4", size=(340, 256), fps=10):
        ...                                       # (H, W, 3) uint8 BGR

Frames are BGR uint8 arrays of shape (H, W, 3), as OpenCV returns them.
Errors about a video are raised as :class:`VideoError` naming the file.
"""
from __future__ import annotations

import math
import os
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from ops.errors import InputError

VIDEO_EXTS = ("mp4", "avi", "mkv", "webm", "mov", "m4v", "mpg", "mpeg", "flv", "wmv")


class VideoError(InputError, RuntimeError):
    """A video that cannot be used (unreadable, truncated, zero frames); the message names it."""


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video.

    ``fps`` in Hz; ``num_frames`` as reported by the container (exact for mp4/avi,
    an estimate or 0 for some streamable formats); ``width``/``height`` in pixels.
    """

    path: str
    fps: float
    num_frames: int
    width: int
    height: int

    @property
    def duration(self) -> float:
        """Length in seconds from the reported frame count (0 when unknown)."""
        return self.num_frames / self.fps if self.fps > 0 else 0.0


def _open(path: str | os.PathLike, threads: int | None = None) -> cv2.VideoCapture:
    """Open ``path`` with the FFmpeg backend; ``threads`` caps the decoder's threads."""
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"{path}: no such video file; check the path")
    params = [] if threads is None else [cv2.CAP_PROP_N_THREADS, int(threads)]
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, params)
    if not cap.isOpened():
        cap.release()
        raise VideoError(f"{path}: cannot open video (unreadable, truncated or unsupported codec); "
                         "check it with `ffprobe` or re-encode it")
    return cap


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Return fps, reported frame count and size of ``path`` without decoding frames.

    Raises VideoError when the file cannot be opened.
    """
    cap = _open(path)
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        w = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        h = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    finally:
        cap.release()
    if not math.isfinite(fps) or fps <= 0:
        fps = 0.0
    return VideoInfo(str(path), fps, max(n, 0), w, h)


def target_size(width: int, height: int, new_width: int = 0, new_height: int = 0,
                short_side: int = 0) -> tuple[int, int]:
    """Output (width, height) in pixels for a ``width`` x ``height`` source.

    ``short_side > 0`` scales the shorter side to it keeping the aspect ratio
    (the other side rounded to an even number of pixels); otherwise
    ``new_width``/``new_height`` are used, a 0 meaning "keep the source value".
    """
    if short_side > 0:
        scale = short_side / min(width, height)
        w, h = (short_side, 2 * round(height * scale / 2)) if width <= height else \
               (2 * round(width * scale / 2), short_side)
        return int(w), int(h)
    return int(new_width or width), int(new_height or height)


def resize_frame(frame: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """Resize (H, W, C) ``frame`` to ``size`` = (width, height); no-op when already that size.

    Enlarging uses INTER_LINEAR.  Shrinking by a factor k >= 2 first averages
    k x k blocks (INTER_AREA at an integer ratio, which is fast), then finishes
    with INTER_LINEAR at a ratio below 2: within 0.7 grey levels of a full
    INTER_AREA resize but 6x faster (INTER_AREA at a non-integer ratio costs as
    much as decoding a 720p frame), and without INTER_LINEAR's aliasing.
    """
    if size is None or (frame.shape[1], frame.shape[0]) == tuple(size):
        return frame
    k = min(frame.shape[1] // size[0], frame.shape[0] // size[1])
    if k >= 2:
        frame = cv2.resize(frame, (frame.shape[1] // k, frame.shape[0] // k), interpolation=cv2.INTER_AREA)
    return cv2.resize(frame, tuple(size), interpolation=cv2.INTER_LINEAR)


def keep_frame(index: int, fps_in: float, fps_out: float | None) -> bool:
    """Whether source frame ``index`` (0-based) is kept when resampling ``fps_in`` -> ``fps_out``.

    Keeps the first source frame of every output period 1/fps_out, so the kept
    frames are evenly spread; with ``fps_out`` None or >= ``fps_in`` every frame is kept.
    """
    if not fps_out or fps_in <= 0 or fps_out >= fps_in:
        return True
    r = fps_out / fps_in
    # The small offset absorbs float error so that e.g. 30 -> 10 fps keeps exactly every 3rd frame.
    return index == 0 or math.floor(index * r + 1e-6) != math.floor((index - 1) * r + 1e-6)


def num_kept_frames(num_source: int, fps_in: float, fps_out: float | None) -> int:
    """How many of ``num_source`` frames :func:`keep_frame` keeps (closed form of summing it)."""
    if num_source <= 0:
        return 0
    if not fps_out or fps_in <= 0 or fps_out >= fps_in:
        return num_source
    return math.floor((num_source - 1) * fps_out / fps_in + 1e-6) + 1


def output_fps(fps_in: float, fps_out: float | None) -> float:
    """Frame rate of the frames :func:`iter_frames` yields (Hz)."""
    return fps_in if not fps_out or fps_in <= 0 or fps_out >= fps_in else float(fps_out)


def iter_frames(path: str | os.PathLike, size: tuple[int, int] | None = None,
                fps: float | None = None, threads: int | None = None,
                prefetch: int = 0, timestamps: list | None = None) -> Iterator[np.ndarray]:
    """Decode ``path`` and yield its frames as (H, W, 3) uint8 BGR arrays.

    ``size`` = (width, height) resizes every frame; ``fps`` keeps frames at a
    reduced rate (see :func:`keep_frame`); ``threads`` caps the decoder's
    threads (use 1 inside a pool of worker processes); ``prefetch > 0`` decodes
    and resizes in a background thread with a queue of that many frames, which
    overlaps decoding with the caller's work (OpenCV releases the GIL).
    ``timestamps``: a list that receives ``(index, decoder time in ms)`` of every kept frame
    (:func:`timestamp_drift` reads it).  Raises VideoError when the file cannot be opened.
    """
    cap = _open(path, threads)
    fps_in = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    # Resizing stays in the decoding thread: handing full-size frames to the caller's thread to
    # balance the two cost more CPU per frame (4.4 vs 4.2 ms, 720p, loaded 2-core VM), as the
    # 2.7 MB frames then change cores and a pool of buffers replaces one cached buffer.
    frames = _decode(cap, size, fps_in, fps, timestamps)
    if prefetch > 0:
        frames = _prefetched(frames, prefetch)
    return frames


def _decode(cap: cv2.VideoCapture, size, fps_in: float, fps_out, timestamps: list | None = None
            ) -> Iterator[np.ndarray]:
    """Generator over the kept, resized frames; releases ``cap`` when done.

    A resized frame is a new small array, so the full-size frame it came from is
    decoded into the same buffer every time: no fresh 2.7 MB array (allocation
    and page faults) per 720p frame, and the buffer stays in cache.  A frame
    yielded unresized belongs to the caller, so the next one gets a new buffer.
    """
    try:
        index, buf = 0, None
        while True:
            if keep_frame(index, fps_in, fps_out):
                ok, frame = cap.read(buf)
                if not ok:
                    break
                if timestamps is not None:
                    timestamps.append((index, cap.get(cv2.CAP_PROP_POS_MSEC)))
                out = resize_frame(frame, size)
                buf = None if out is frame else frame
                yield out
            elif not cap.grab():  # skipped frames are grabbed but not converted to BGR
                break
            index += 1
    finally:
        cap.release()


def timestamp_drift(timestamps, fps: float) -> tuple[float, int]:
    """How far a video's frames sit from where their index puts them.

    Args:
        timestamps: ``(frame index, decoder time in ms)`` pairs (:func:`iter_frames`), in decoding order.
        fps: the container's frame rate, by which every later stage turns indices into seconds.
    Returns:
        ``(drift, index)``: the signed ``(t_i - t_0) - (i - i_0) / fps`` in seconds of largest size and that
        frame's index (positive: the frame plays later than its index says); ``(0.0, -1)`` when the decoder
        gives no usable times (fewer than two frames, or times that never increase).

    A constant-rate video drifts by at most a millisecond of rounding; a variable-rate one by seconds.
    """
    if len(timestamps) < 2 or fps <= 0:
        return 0.0, -1
    t = np.asarray(timestamps, np.float64)
    index, sec = t[:, 0], t[:, 1] / 1000.0
    if not (np.diff(sec) > 0).any():
        return 0.0, -1
    drift = (sec - sec[0]) - (index - index[0]) / fps
    worst = int(np.argmax(np.abs(drift)))
    return float(drift[worst]), int(index[worst])


_END = object()


def _prefetched(frames: Iterator[np.ndarray], depth: int) -> Iterator[np.ndarray]:
    """Run the ``frames`` generator in a daemon thread; re-raise its errors in the caller."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce():
        try:
            for f in frames:
                if stop.is_set():
                    break
                q.put(f)
            q.put(_END)
        except BaseException as e:  # handed to the consumer, which re-raises it
            q.put(e)
        finally:
            frames.close()

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # drain so the producer is never blocked on a full queue
            try:
                q.get(timeout=0.05)
            except queue.Empty:
                pass


def encode_jpeg(image: np.ndarray, quality: int = 95) -> np.ndarray:
    """(H, W, 3) BGR or (H, W) gray uint8 ``image`` -> JPEG bytes as a 1-D uint8 array.

    OpenCV's defaults otherwise (4:2:0 chroma subsampling, no Huffman
    optimisation), as DenseFlow and ``ffmpeg -q:v 2`` also subsample chroma.
    """
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise OSError("JPEG encoding failed")
    return buf


def write_bytes(path: str | os.PathLike, data) -> None:
    """Write ``data`` (bytes-like) to a new file ``path`` with plain os calls.

    No Python file object or buffering layer: one ``write`` call per file,
    which matters at thousands of small files per second.  Raises OSError
    naming the file (e.g. disk full).
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
    try:
        view, done = memoryview(data).cast("B"), 0
        while done < len(view):  # a regular-file write is normally complete in one call
            done += os.write(fd, view[done:])
    except OSError as e:
        raise OSError(e.errno, e.strerror, os.fspath(path)) from e
    finally:
        os.close(fd)


def write_jpeg(path: str | os.PathLike, image: np.ndarray, quality: int = 95) -> None:
    """Write (H, W, 3) BGR or (H, W) gray uint8 ``image`` as a JPEG of ``quality`` (1..100).

    Raises OSError naming the file when it cannot be encoded or written (e.g. disk full).
    """
    try:
        data = encode_jpeg(image, quality)
    except OSError as e:
        raise OSError(f"{path}: {e}") from e
    write_bytes(path, data)


def read_jpeg(path: str | os.PathLike, gray: bool = False) -> np.ndarray:
    """Read a JPEG as (H, W, 3) BGR or (H, W) gray uint8; raises OSError naming a bad file."""
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE if gray else cv2.IMREAD_COLOR)
    if img is None:
        raise OSError(f"{path}: cannot read image (missing or corrupt); re-extract this video")
    return img
