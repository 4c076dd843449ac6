"""PWCCA per tract region (``artstage regions``, ``region-pwcca``, ``region-figure``): gridlines
get the region of the outer-wall section they cross (hand-made geometry and the real contour
fixture); a region whose VTD drives the features stands out; errors name the speaker."""

import types

import numpy as np
import pandas as pd
import pytest
from codecprobe.artstage import REGION_COLUMNS, codec_region_pwcca, main
from codecprobe.io import CodecprobeError, read_table, write_table
from codecprobe.rtmri import FRAME_RATE, frame_time
from codecprobe.vtd import REGIONS, gridline_regions
from conftest import SHARED
from test_artstage import _write_features, _write_vtd

FIXTURE = SHARED / "fixtures" / "rtmri" / "cs_aba_track.mat"


def _flat_track(n_frames=3):
    """A straight tract: outer wall y = 10 (x 0..40), inner wall y = 20. Outer sections by x:
    upper lip 0-10, hard palate 11-20, velum 21-30, then segment 2 (sections 4, 1, 2) 31-40."""
    x = np.arange(41.0)
    outer = np.stack([x, np.full_like(x, 10.0)], axis=1)
    inner = np.stack([x, np.full_like(x, 20.0)], axis=1)
    spans = {(3, 5): (0, 10), (3, 1): (11, 20), (3, 2): (21, 30), (2, 4): (31, 33), (2, 1): (34, 37), (2, 2): (38, 40)}
    sections = {k: outer[a : b + 1] for k, (a, b) in spans.items()}
    return types.SimpleNamespace(
        n_frames=n_frames, inner=np.repeat(inner[None], n_frames, 0), outer=np.repeat(outer[None], n_frames, 0),
        sections=[sections] * n_frames,
    )  # fmt: skip


def test_regions_of_a_straight_tract_by_hand():
    """Vertical gridlines at x = 5, 15, 25, 32, 39 and 45 (past the walls' end): lips, palate,
    velum, pharynx twice, none."""
    xs = [5.0, 15.0, 25.0, 32.0, 39.0, 45.0]
    grid = np.array([[[x, 25.0], [x, 5.0]] for x in xs])
    region, share = gridline_regions([_flat_track()], grid)
    assert region.tolist() == [0, 1, 2, 3, 3, -1]
    assert share.tolist() == [1.0, 1.0, 1.0, 1.0, 1.0, 0.0]
    assert REGIONS == ("lips", "palate", "velum", "pharynx")


@pytest.mark.skipif(not FIXTURE.is_file(), reason="shared rt-MRI fixture not present")
def test_regions_on_the_real_contour_fixture_run_lips_to_pharynx():
    """On the real track the regions follow the tract from the lips to the larynx, in order,
    each a run of neighbouring gridlines: lips (about 10), palate, velum, pharynx; the
    gridlines beyond the lips cross no outer wall."""
    from codecprobe.rtmri import load_track
    from codecprobe.vtd import grid_from_tracks

    track = load_track(FIXTURE)
    grid, _ = grid_from_tracks([track])
    region, share = gridline_regions([track], grid)
    labelled = region[region >= 0]
    assert (np.diff(labelled) >= 0).all() and set(labelled) == {0, 1, 2, 3}
    assert (region[:3] == -1).all() and region[-1] == 3
    counts = np.bincount(labelled, minlength=4)
    assert 6 <= counts[0] <= 16 and counts[1] >= 10 and counts[2] >= 8 and counts[3] >= 40, counts
    assert np.median(share[region >= 0]) == 1.0  # most gridlines cross one section in every frame


def _speaker(tmp_path, spk, rng, n_clips=12, n_frames=150, dim=24):
    """One speaker: 40 gridlines (0-9 lips, 10-19 palate, 20-29 velum, 30-39 pharynx), each
    region moved by its own latent motion, gridline 0 never measured; the codec's layer 1
    carries the palate's latent, layer 2 adds noise. Returns the VTD file, the features and
    the regions table."""
    clips, utts = [], {}
    mix = [rng.standard_normal((3, 10)) for _ in range(4)]
    w = rng.standard_normal((3, dim))
    for c in range(n_clips):
        lat = [np.cumsum(rng.standard_normal((n_frames, 3)), axis=0) for _ in range(4)]
        px = 10 + np.concatenate([lat[r] @ mix[r] for r in range(4)], axis=1) + 0.5 * rng.standard_normal((n_frames, 40))
        px[:, 0] = px[:, 1]  # gridline 0 (lips) never measured: refilled from its neighbour, as postprocess does
        name = f"{spk}_2drt_{c + 10:02d}_topic"
        clips.append((name, px, np.arange(40) == 0))
        y1 = lat[1] @ w + rng.standard_normal((n_frames, dim))
        utts[name] = (frame_time(np.arange(1, n_frames + 1)), np.stack([y1, rng.standard_normal((n_frames, dim))]))
    regions = pd.DataFrame({"speaker": spk, "gridline": np.arange(40), "region": np.repeat(REGIONS, 10), "share": 1.0})
    return _write_vtd(tmp_path / f"{spk}.h5", spk, clips), utts, regions


def test_the_region_that_drives_the_features_stands_out(tmp_path):
    rng = np.random.default_rng(7)
    v1, u1, r1 = _speaker(tmp_path, "sub801", rng)
    v2, u2, r2 = _speaker(tmp_path, "sub802", rng)
    feats = _write_features(tmp_path / "f.h5", {**u1, **u2}, FRAME_RATE)
    regions = str(tmp_path / "regions.csv")
    write_table(pd.concat([r1, r2]), regions)
    res = codec_region_pwcca("syn", feats, [v1, v2], [regions], [1, 2], n_shuffles=3)
    assert list(res.columns) == REGION_COLUMNS and len(res) == 2 * 4 * 2
    assert (res.n_gridlines == np.where(res.region == "lips", 9, 10)).all()  # the unmeasured gridline left out
    for spk, g in res[res.layer == 1].groupby("speaker"):
        g = g.set_index("region")
        gap = g["pwcca"] - g["shuffled_mean"]
        assert gap.idxmax() == "palate" and gap["palate"] > 0.2, (spk, g)
        assert gap.drop("palate").max() < gap["palate"] - 0.15
    write_table(r1, str(tmp_path / "one.csv"))
    with pytest.raises(CodecprobeError, match="sub802: no gridline regions"):
        codec_region_pwcca("syn", feats, [v1, v2], [str(tmp_path / "one.csv")], [1])
    write_table(pd.concat([r1, r2[r2.gridline < 39]]), str(tmp_path / "short.csv"))
    with pytest.raises(CodecprobeError, match="sub802: 39 gridline regions for 40 gridlines"):
        codec_region_pwcca("syn", feats, [v1, v2], [str(tmp_path / "short.csv")], [1])
    # a region name the stage does not know (a hand edit: 'lipz' silently dropped the lips)
    write_table(pd.concat([r1.replace({"region": {"lips": "lipz"}}), r2]), str(tmp_path / "typo.csv"))
    with pytest.raises(CodecprobeError, match=r"typo.csv: unknown region\(s\) lipz \(known: lips, palate, velum, pharynx, none\)"):
        codec_region_pwcca("syn", feats, [v1, v2], [str(tmp_path / "typo.csv")], [1])
    write_table(pd.concat([r1, r2]).drop(columns="region"), str(tmp_path / "noregion.csv"))
    with pytest.raises(CodecprobeError, match=r"noregion.csv: no column\(s\) region: not a table of 'artstage regions'"):
        codec_region_pwcca("syn", feats, [v1, v2], [str(tmp_path / "noregion.csv")], [1])


def test_cli_region_figure_draws_every_region(tmp_path):
    """The summary's mean per codec, region and layer, and the figure's markers at them."""
    from codecprobe import artstage

    rows = [{"codec": "c", "speaker": s, "region": r, "layer": k, "pwcca": 0.5 + 0.1 * i + 0.01 * k + 0.001 * j,
             "shuffled_mean": 0.3, "random_weights": False}
            for j, s in enumerate(["a", "b"]) for i, r in enumerate(REGIONS) for k in (1, 8)]  # fmt: skip
    write_table(pd.DataFrame(rows), str(tmp_path / "c.csv"))
    drawn = {}
    real = artstage.save_figure
    artstage.save_figure = lambda fig, pdf, png: drawn.setdefault("fig", fig)
    try:
        main(["region-figure", "--tables", str(tmp_path / "c.csv"), "--combined", str(tmp_path / "all.csv"),
              "--summary", str(tmp_path / "s.csv"), "--pdf", str(tmp_path / "f.pdf"), "--png", str(tmp_path / "f.png")])  # fmt: skip
    finally:
        artstage.save_figure = real
    s = read_table(str(tmp_path / "s.csv"))
    assert s.loc[(s.region == "velum") & (s.layer == 8), "pwcca"].iloc[0] == pytest.approx(0.5 + 0.2 + 0.08 + 0.0005)
    ax = drawn["fig"].axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == list(REGIONS)
    means = [ln for ln in ax.get_lines() if ln.get_linestyle() == "None" and ln.get_markerfacecolor() != "none"]
    assert any(np.allclose(ln.get_ydata(), [0.5105, 0.6105, 0.7105, 0.8105]) for ln in means)
    # the error bars run from ci_low to ci_high of the summary (two speakers 0.001 apart)
    from matplotlib.collections import LineCollection

    bars = [seg for c in ax.collections if isinstance(c, LineCollection) for seg in c.get_segments()]
    want = s[["ci_low", "ci_high"]].to_numpy()
    got = np.array([[seg[0, 1], seg[1, 1]] for seg in bars])
    assert len(got) == len(want) == 8
    np.testing.assert_allclose(got[np.lexsort(got.T[::-1])], want[np.lexsort(want.T[::-1])])  # rows by (low, high)


def test_region_labels_give_the_speakers_when_they_differ():
    """A region averaged over fewer speakers than the others says how many under its name;
    with every region over the same speakers the names stand alone."""
    from codecprobe.artstage import region_tick_labels

    full = pd.DataFrame({"region": list(REGIONS) * 2, "layer": [1] * 4 + [8] * 4, "n_speakers": 4})
    assert region_tick_labels(full) == list(REGIONS)
    fewer = full.assign(n_speakers=np.where(full.region == "velum", 2, 4))
    assert region_tick_labels(fewer) == [f"{r}\n{2 if r == 'velum' else 4} spk" for r in REGIONS]
    missing = full[full.region != "lips"]  # no speaker gave the lips a value
    assert region_tick_labels(missing)[REGIONS.index("lips")] == "lips\n0 spk"


@pytest.mark.parametrize("value, message", [("0", "must be at least 1, got 0"), ("many", "'many' is not a whole number")])
def test_regions_max_frames_must_be_a_positive_whole_number(value, message, capsys):
    """``regions --max-frames 0`` labelled every gridline 'lips' (no frame drawn)."""
    from codecprobe.artstage import main

    with pytest.raises(SystemExit) as e:
        main(["regions", "--annot16", "a", "--speaker", "s", "--vtd", "v.h5", "--out", "o.csv", "--max-frames", value])
    assert e.value.code == 2 and f"argument --max-frames: {message}" in capsys.readouterr().err
