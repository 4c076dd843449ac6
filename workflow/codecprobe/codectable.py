"""Table 1 of this run (``results/tables/codecs.csv``): what each codec of the run is, read
from the features it encoded.

The seed paper's Table 1 gives each codec's input sample rate and output bitrate. Here
both come from each codec's encode-stage HDF5 file (:mod:`codecprobe.encode`): its
attributes (``sample_rate``, ``frame_rate``, ``n_layers``, weights, ...) and its codebooks
(``/codebooks/layer_XX``, ``[C_k, D]``, one per layer encoded). The bitrate of the K layers
used is ``frame_rate x sum_k log2(C_k)`` bits per second: EnCodec 24 kHz with 16 layers,
75 Hz x 16 x 10 bits = 12 kbps; DAC 24 kHz, 75 x 32 x 10 = 24 kbps; MIMI, 12.5 x 32 x 11 =
4.4 kbps; MiMo's first 8 layers, 25 x (10 + 10 + 6 x 7) = 1.55 kbps.

One row per codec (:data:`COLUMNS`): ``codec``, ``family``, ``weights`` (hub id, path
- for a fitted melrvq the model file's - or ``random``), ``random_weights``, ``sample_rate`` (Hz, the codec's input),
``frame_rate`` (Hz), ``n_layers``, ``codebook_sizes`` (e.g. ``1024x2 128x6``),
``bits_per_frame``, ``bitrate_bps``, ``dim`` (the decoded vectors' size), ``slicing`` and
``n_tokens`` (word tokens encoded; empty, with a warning, for a file that lacks the attribute).
"""

from __future__ import annotations

import argparse
import logging
from itertools import groupby

import numpy as np
import pandas as pd

from . import with_provenance
from .io import CodecprobeError, repeated, run_cli, setup_logging, write_table

log = logging.getLogger("codecprobe.codectable")

COLUMNS = [
    "codec", "family", "weights", "random_weights", "sample_rate", "frame_rate", "n_layers", "codebook_sizes",
    "bits_per_frame", "bitrate_bps", "dim", "slicing", "n_tokens",
]  # fmt: skip
NEEDED = ("codec", "family", "weights", "random_weights", "sample_rate", "frame_rate", "n_layers", "dim")


def bits_per_frame(codebook_sizes: list[int]) -> float:
    """``sum_k log2(C_k)``: the bits one frame of codes carries (``C_k`` codes in layer k)."""
    return float(np.sum(np.log2(np.asarray(codebook_sizes, dtype=float))))


def bitrate_bps(frame_rate: float, codebook_sizes: list[int]) -> float:
    """Bits per second of the codes: ``frame_rate`` (Hz) x :func:`bits_per_frame`."""
    return float(frame_rate) * bits_per_frame(codebook_sizes)


def sizes_text(codebook_sizes: list[int]) -> str:
    """Runs of equal sizes: ``[1024, 1024, 128, 128] -> "1024x2 128x2"``."""
    return " ".join(f"{c}x{len(list(g))}" for c, g in groupby(int(c) for c in codebook_sizes))


def summary(path: str) -> dict:
    """One row of the table (:data:`COLUMNS`) from an encode-stage HDF5 file."""
    import h5py

    try:
        with h5py.File(path, "r") as h:
            attrs = dict(h.attrs)
            missing = [k for k in NEEDED if k not in attrs]
            if missing:
                raise CodecprobeError(f"{path}: not an encode-stage features file (no attribute {', '.join(missing)})")
            k = int(attrs["n_layers"])
            if k < 1:
                raise CodecprobeError(f"{path}: n_layers {k}: no codebooks")
            names = [f"codebooks/layer_{i:02d}" for i in range(1, k + 1)]
            absent = [n for n in names if n not in h]
            if absent:
                raise CodecprobeError(f"{path}: {len(absent)} of {k} codebooks missing (first: /{absent[0]})")
            sizes = [int(h[n].shape[0]) for n in names]
    except OSError as e:
        raise CodecprobeError(f"{path}: cannot read features ({e})") from e
    if min(sizes) < 1:
        raise CodecprobeError(f"{path}: an empty codebook (sizes {sizes_text(sizes)})")
    rate = float(attrs["frame_rate"])
    return {
        "codec": str(attrs["codec"]), "family": str(attrs["family"]), "weights": str(attrs["weights"]),
        "random_weights": bool(attrs["random_weights"]), "sample_rate": int(attrs["sample_rate"]),
        "frame_rate": rate, "n_layers": k, "codebook_sizes": sizes_text(sizes),
        "bits_per_frame": bits_per_frame(sizes), "bitrate_bps": bitrate_bps(rate, sizes),
        "dim": int(attrs["dim"]), "slicing": str(attrs.get("slicing", "")),
        "n_tokens": int(attrs["n_tokens"]) if "n_tokens" in attrs else None,
    }  # fmt: skip


def codec_table(paths: list[str]) -> pd.DataFrame:
    """:func:`summary` of each file, in the order given; a codec named twice is an error."""
    rows = [summary(p) for p in paths]
    twice = repeated(r["codec"] for r in rows)
    if twice:
        raise CodecprobeError(f"codec table: codec {twice[0]!r} in more than one features file")
    for r, p in zip(rows, paths):
        if r["n_tokens"] is None:
            log.warning("%s: no n_tokens attribute (a file from an older encode stage): the column is left empty", p)
    table = pd.DataFrame(rows, columns=COLUMNS)
    table["n_tokens"] = table["n_tokens"].astype("Int64")
    return table


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Table 1 of this run: each codec's rates, layers, codebooks and bitrate.")
    ap.add_argument("--features", nargs="+", required=True, help="results/features/<codec>/words.h5, one per codec")
    ap.add_argument("--out", required=True, help="results/tables/codecs.csv")
    ap.add_argument("--note", default="", help="the config's data_label (a column, as in the other tables over every codec)")
    ap.add_argument("--log", default=None)
    a = ap.parse_args(argv)
    setup_logging(a.log)
    t = codec_table(a.features)
    for r in t.itertuples():
        log.info(
            "%s (%s%s): %d Hz in, %g Hz frames, %d layers (%s), %.0f bps", r.codec, r.family,
            ", RANDOM WEIGHTS" if r.random_weights else "", r.sample_rate, r.frame_rate, r.n_layers, r.codebook_sizes,
            r.bitrate_bps,
        )  # fmt: skip
    write_table(with_provenance(t, a.note), a.out)


if __name__ == "__main__":
    run_cli(main)
