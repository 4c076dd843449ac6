"""codecprobe: layer-wise semantic and phonetic probing of speech codecs.

One module per workflow stage; each runs without Snakemake (``python -m codecprobe.<stage>``).
"""

from functools import lru_cache
from pathlib import Path

__version__ = "0.1.0"


@lru_cache(maxsize=4)
def source_version(root: str | None = None) -> str:
    """The code that wrote an output: ``__version__`` plus the git commit of the checkout the
    package runs from, ``0.1.0+g<12 hex digits>``, with ``.dirty`` when tracked files under
    the workflow's code folder (``workflow/``: the package, the rules, the schema) differ
    from that commit (an edited ``config.yaml`` is not code); ``__version__`` alone outside
    a git checkout or without git.

    ``root``: the code folder to ask git about (default: the folder above this package). Recorded in
    the feature, VTD and CKA files (attribute ``codecprobe``), so that a result can be traced
    to its code even between releases of the version number.
    """
    import subprocess

    where = root or str(Path(__file__).resolve().parent.parent)

    def git(*args: str) -> str:
        out = subprocess.run(["git", "-C", where, *args], capture_output=True, text=True, timeout=10, check=True)
        return out.stdout.strip()

    try:
        commit = git("rev-parse", "--short=12", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no", "--", "."))
    except (OSError, subprocess.SubprocessError):
        return __version__
    return f"{__version__}+g{commit}{'.dirty' if dirty else ''}"


def with_provenance(table, note: str):
    """``table`` (a DataFrame of results over every codec) with two columns added to say where
    it comes from: ``codecprobe`` (:func:`source_version`) and ``data_label`` (the config's
    ``data_label``, e.g. the demo's "SYNTHETIC DEMO DATA ...", empty for a real corpus)."""
    return table.assign(codecprobe=source_version(), data_label=note)


def latex_provenance(note: str) -> str:
    """LaTeX comment lines that head a results table: the code version and the data label."""
    lines = [f"% written by codecprobe {source_version()}"]
    if note:
        lines.append(f"% data: {' '.join(note.split())}")
    return "\n".join(lines) + "\n"
