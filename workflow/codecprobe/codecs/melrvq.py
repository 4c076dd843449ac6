"""``melrvq``: a signal-only baseline codec: log-mel frames quantized by a residual k-means.

No download, no neural network: a reference row for the paper's question (how much of
what a codec's layers show is already in a plain spectral representation?) and the
codec the demo's figures are built from.

* Front-end: 16 kHz mono, frames of ``n_fft`` = 400 samples (25 ms, Hann window) every
  ``hop`` = 160 samples (10 ms, 100 frames/s); frame i covers samples
  ``[i * hop, i * hop + n_fft)`` (zeros beyond the clip), so a clip of T samples has
  ``ceil(T / hop)`` frames and right-padding never changes a clip's own frames.
  80 mel bands (HTK mel scale, 0-8000 Hz, triangular filters), ``log(mel + 1e-6)``,
  standardized per band with the fitting corpus's mean and standard deviation.
* Quantizer: ``n_layers`` (8) residual k-means layers of ``codebook_size`` (256)
  centroids, fitted layer by layer on the residual of the previous layers (k-means++
  init, Lloyd iterations, fixed seed). The decoded vector of a code is its centroid.

The fitted model is a ``.npz`` file (``codecprobe.codecs.melrvq fit``); the config's
``weights`` names it (the workflow fits it in rule ``fit_melrvq``).
"""

from __future__ import annotations

import argparse
import json
import logging
import zipfile
from pathlib import Path

import numpy as np

from ..io import CodecprobeError, atomic_path, read_table, run_cli, setup_logging
from .base import Codec, CodecSpec, check_n_layers, register

SAMPLE_RATE = 16000
N_FFT = 400
HOP = 160
N_MELS = 80
log = logging.getLogger("codecprobe.melrvq")


# ----------------------------------------------------------------------------- front-end
def hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    """HTK mel scale: ``2595 log10(1 + f / 700)``."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m: np.ndarray | float) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(sr: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """Triangular mel filters, ``[n_mels, n_fft // 2 + 1]``, peak 1, edges evenly spaced in mel."""
    edges = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sr / 2), n_mels + 2))
    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs[None] - lo) / (mid - lo)
    down = (hi - freqs[None]) / (hi - mid)
    return np.maximum(0.0, np.minimum(up, down)).astype(np.float32)


def n_frames(n_samples: int, hop: int = HOP) -> int:
    return int(np.ceil(n_samples / hop))


def log_mel(wav: np.ndarray, fb: np.ndarray | None = None) -> np.ndarray:
    """``[T]`` float samples at 16 kHz -> ``[ceil(T / hop), n_mels]`` log-mel frames (float32).

    The mel projection is a float64 matrix product rounded once to float32: in float32,
    OpenBLAS's result for a frame depended on how many frames the product held and on its
    thread count (up to 1e-6), so a word's frames moved with the length it was padded to in
    a batch, and a fit with the threads. Each frame's FFT and log are its own."""
    fb = mel_filterbank() if fb is None else fb
    n = n_frames(len(wav))
    padded = np.zeros((n - 1) * HOP + N_FFT, dtype=np.float32)
    padded[: len(wav)] = wav
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n)[:, None]
    frames = padded[idx] * np.hanning(N_FFT + 1)[:-1].astype(np.float32)
    power = np.abs(np.fft.rfft(frames, axis=-1)) ** 2
    return np.log(power.astype(np.float64) @ fb.T.astype(np.float64) + 1e-6).astype(np.float32)


# ----------------------------------------------------------------------------- k-means
def kmeans(x: np.ndarray, k: int, rng: np.random.Generator, iters: int = 25) -> np.ndarray:
    """k-means++ init + Lloyd iterations on ``x [N, D]``; returns ``[k, D]`` centroids.

    Empty clusters are re-seeded with the points farthest from their centroids (distinct
    points when several clusters empty at once). With fewer points than ``k``, points are
    repeated (with tiny jitter) to fill the codebook.
    """
    x = x.astype(np.float64)
    if len(x) < k:
        reps = x[rng.integers(0, len(x), k - len(x))] + 1e-6 * rng.standard_normal((k - len(x), x.shape[1]))
        x = np.concatenate([x, reps])
    c = np.empty((k, x.shape[1]))
    c[0] = x[rng.integers(len(x))]
    d2 = ((x - c[0]) ** 2).sum(1)
    for i in range(1, k):
        p = d2 / d2.sum() if d2.sum() > 0 else None
        c[i] = x[rng.choice(len(x), p=p)]
        d2 = np.minimum(d2, ((x - c[i]) ** 2).sum(1))
    for _ in range(iters):
        c = lloyd_update(x, c, assign(x, c))
    return c.astype(np.float32)


def lloyd_update(x: np.ndarray, c: np.ndarray, a: np.ndarray) -> np.ndarray:
    """One Lloyd update of ``c [k, D]`` given the assignment ``a [N]`` of ``x [N, D]``: each
    cluster's mean; the clusters left empty take the points farthest from their centroids,
    a different point each (one point for all of them left duplicate centroids)."""
    k = len(c)
    counts = np.bincount(a, minlength=k)
    empty = np.flatnonzero(counts == 0)
    new = c.copy()
    for j in np.flatnonzero(counts):
        new[j] = x[a == j].mean(0)
    if len(empty):
        far = np.argsort(((x - c[a]) ** 2).sum(1), kind="stable")[::-1][: len(empty)]
        new[empty[: len(far)]] = x[far]
    return new


def assign(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Nearest centroid (Euclidean) of each row of ``x [N, D]`` among ``c [k, D]``: ``[N]`` indices.

    ``|c|^2 - 2 x.c`` (``|x|^2`` is the same for every centroid of a row) in float64
    whatever the inputs' dtype: float32 products flip near ties with the row count of the
    product and the BLAS threads (a word's codes then depended on its batch), and float32
    rounding picked the wrong one of two centroids within about 1e-6 of each other."""
    x, c = np.asarray(x, np.float64), np.asarray(c, np.float64)
    d = x @ (-2.0 * c.T)  # the factor -2 is exact; folded in, the [N, k] product is the only temporary
    d += (c**2).sum(1)
    return d.argmin(1)


def fit_rvq(frames: np.ndarray, n_layers: int, codebook_size: int, seed: int) -> np.ndarray:
    """Residual k-means: ``[n_layers, codebook_size, D]`` centroids fitted on ``frames [N, D]``."""
    rng = np.random.default_rng(seed)
    res = frames.astype(np.float32).copy()
    books = []
    for layer in range(n_layers):
        c = kmeans(res, codebook_size, rng)
        res -= c[assign(res, c)]
        books.append(c)
        log.info("layer %d: residual rms %.4f", layer + 1, float(np.sqrt((res**2).mean())))
    return np.stack(books)


def fit(paths: list[str], out: str | Path, n_layers: int = 8, codebook_size: int = 256, seed: int = 0, max_frames: int = 200_000) -> None:
    """Fit the baseline on the audio files in ``paths`` and write the ``.npz`` model."""
    from ..audio import load_audio

    fb = mel_filterbank()
    feats = [log_mel(load_audio(p, SAMPLE_RATE), fb) for p in paths]
    if not feats:
        raise CodecprobeError("melrvq fit: no audio to fit on")
    x = np.concatenate(feats)
    rng = np.random.default_rng(seed)
    if len(x) > max_frames:
        x = x[rng.choice(len(x), max_frames, replace=False)]
    mu, sd = x.mean(0), x.std(0) + 1e-5
    if float(sd.max()) < 1e-3:  # log-mel units: the same frame everywhere, e.g. digital silence
        raise CodecprobeError(f"melrvq fit: the {len(paths)} audio file(s) are silent or constant (log-mel sd under 1e-3 "
                              "in every band): nothing to fit")  # fmt: skip
    books = fit_rvq((x - mu) / sd, n_layers, codebook_size, seed)
    meta = {"n_files": len(paths), "n_frames": int(len(x)), "seed": seed, "sample_rate": SAMPLE_RATE, "hop": HOP, "n_fft": N_FFT, "n_mels": N_MELS}
    with atomic_path(out) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, codebooks=books, mean=mu, std=sd, meta=json.dumps(meta))
    log.info("melrvq: %d layers x %d codes fitted on %d frames from %d files", n_layers, codebook_size, len(x), len(paths))


def check_model(codebooks: np.ndarray, mean: np.ndarray, std: np.ndarray, where: str) -> None:
    """A fitted model's arrays: ``codebooks [K, C, 80]``, ``mean [80]``, ``std [80]`` > 0,
    all finite (a model fitted on NaN audio, or by other front-end settings, is an error)."""
    if codebooks.ndim != 3 or codebooks.shape[-1] != N_MELS or mean.shape != (N_MELS,) or std.shape != (N_MELS,):
        raise CodecprobeError(f"{where}: codebooks {codebooks.shape}, mean {mean.shape}, std {std.shape}; expected "
                              f"[layers, codes, {N_MELS}], [{N_MELS}], [{N_MELS}] (refit it with rule fit_melrvq)")  # fmt: skip
    bad = [n for n, a in (("codebooks", codebooks), ("mean", mean), ("std", std)) if not np.isfinite(a).all()]
    if bad or not (std > 0).all():
        raise CodecprobeError(f"{where}: {', '.join(bad) or 'std'} not finite (or std not positive): refit it with rule "
                              "fit_melrvq")  # fmt: skip


# ----------------------------------------------------------------------------- codec
# read without importing this file: codecs.base.adapter_declarations (README, "Writing a codec adapter")
FAMILY = {"family": "melrvq", "backend": "codecprobe", "default": True, "conda_env": "analysis.yaml", "device": False, "hub_ids": None}


@register
class MelRVQ(Codec):
    family = "melrvq"
    uses_torch = False
    pad_invariant = True

    def __init__(self, spec: CodecSpec, device: str = "cpu"):
        self.spec = spec
        self.device = "cpu"
        if spec.random:
            rng = np.random.default_rng(spec.seed)
            k, size = check_n_layers(spec, 8, np.iinfo(np.int32).max), int(spec.options.get("codebook_size", 256))
            if size < 2:
                raise CodecprobeError(f"codec {spec.name!r}: codebook_size must be at least 2, got {size}")
            self.codebooks = (rng.standard_normal((k, size, N_MELS)) / np.sqrt(np.arange(1, k + 1))[:, None, None]).astype(np.float32)
            self.mean, self.std = np.zeros(N_MELS, np.float32), np.ones(N_MELS, np.float32)
        else:
            p = Path(spec.weights).expanduser()
            if p.is_dir():
                raise CodecprobeError(f"codec {spec.name!r}: melrvq model {p} is a folder, not a model file (the .npz rule "
                                      "fit_melrvq writes)")  # fmt: skip
            if not p.is_file():
                raise CodecprobeError(f"codec {spec.name!r}: melrvq model {p} does not exist (fit it with rule fit_melrvq)")
            try:
                with np.load(p) as z:
                    self.codebooks, self.mean, self.std = z["codebooks"], z["mean"], z["std"]
            except Exception as e:
                # not an .npz (a zip): np.load takes it for a pickle and suggests allow_pickle, never right here
                why = e if zipfile.is_zipfile(p) else "not an .npz archive (a model is the one rule fit_melrvq writes)"
                raise CodecprobeError(f"codec {spec.name!r}: cannot read melrvq model {p}: {why}") from e
            check_model(self.codebooks, self.mean, self.std, f"codec {spec.name!r}: melrvq model {p}")
        total = self.codebooks.shape[0]
        self.n_layers = check_n_layers(spec, total, total)
        self.sample_rate, self.hop_length = SAMPLE_RATE, HOP
        self.frame_rate = SAMPLE_RATE / HOP
        self.dim = self.codebooks.shape[-1]
        self._fb = mel_filterbank()

    def latent(self, wav: np.ndarray) -> np.ndarray:
        """``[T]`` -> ``[F, D]`` standardized log-mel frames (what the RVQ quantizes)."""
        return (log_mel(np.asarray(wav, np.float32), self._fb) - self.mean) / self.std

    def encode(self, wav) -> np.ndarray:
        """``[B, T]`` -> ``[B, K, F]`` codes (NumPy); all frames of the batch are quantized at once."""
        wav = np.atleast_2d(np.asarray(wav, np.float32))
        lat = np.stack([self.latent(w) for w in wav])  # [B, F, D]
        b, f, d = lat.shape
        res = lat.reshape(b * f, d)
        codes = np.empty((self.n_layers, b * f), np.int64)
        for k in range(self.n_layers):
            codes[k] = assign(res, self.codebooks[k])
            res = res - self.codebooks[k][codes[k]]
        return codes.reshape(self.n_layers, b, f).transpose(1, 0, 2).copy()

    def frame_times(self, n_frames: int) -> np.ndarray:
        """Centre (s) of each frame's window: frame i covers samples ``[i * hop, i * hop + n_fft)``,
        so its centre is ``(i * 160 + 200) / 16000`` = ``(i + 1.25) / 100`` (not the base
        class's ``(i + 0.5) / 100``, 7.5 ms earlier)."""
        return (np.arange(n_frames) * HOP + N_FFT / 2) / SAMPLE_RATE

    def codebook_vectors(self, layer: int) -> np.ndarray:
        return self.codebooks[layer]

    def quantized(self, codes) -> np.ndarray:
        """Sum of the chosen centroids over all layers, ``[B, F, D]``."""
        codes = np.asarray(codes)
        return sum(self.codebooks[k][codes[:, k]] for k in range(codes.shape[1]))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Fit the melrvq baseline codec on a manifest's audio.")
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--n-layers", type=int, default=8)
    ap.add_argument("--codebook-size", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-frames", type=int, default=200_000)
    ap.add_argument("--log", default=None)
    a = ap.parse_args(argv)
    setup_logging(a.log)
    m = read_table(a.manifest)
    fit(list(m["path"]), a.out, a.n_layers, a.codebook_size, a.seed, a.max_frames)


if __name__ == "__main__":
    run_cli(main)
