"""codecprobe: layer-wise semantic and phonetic probing of speech codecs.

One module per workflow stage; each runs without Snakemake (``python -m codecprobe.<stage>``).
"""

from functools import lru_cache
from pathlib import Path

__version__ = "0.1.0"


CODE_SUFFIXES = (".py", ".smk", ".yaml", ".yml", ".json", ".rst")  # under workflow/: the package, rules, schemas, captions


@lru_cache(maxsize=4)
def source_version(root: str | None = None) -> str:
    """The code that wrote an output: ``__version__`` plus the git commit of the checkout the
    package runs from, ``0.1.0+g<12 hex digits>``, with ``.dirty`` when files under the
    workflow's code folder (``workflow/``: the package, the rules, the schema) differ from
    that commit: a tracked file edited, or a file of code (:data:`CODE_SUFFIXES`) that git
    neither tracks nor ignores (a new codec adapter, which the registry finds by its file);
    an edited ``config.yaml`` is not code. ``__version__`` alone outside a git checkout;
    ``0.1.0+unknown`` inside one that git cannot read (no git, or a checkout owned by
    another user: "dubious ownership"), with a warning, so that a lost commit is never
    taken for a release.

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
        status = git("status", "--porcelain", "--untracked-files=all", "--", ".").splitlines()
        # a tracked file changed, or a new file of code that git would not ignore (a notes file is not code)
        dirty = any(not line.startswith("??") or line.rstrip().endswith(CODE_SUFFIXES) for line in status)
    except (OSError, subprocess.SubprocessError) as e:
        if not any((p / ".git").exists() for p in (Path(where), *Path(where).parents)):
            return __version__  # not a checkout: a release
        import logging

        why = (getattr(e, "stderr", None) or str(e)).strip().splitlines()
        logging.getLogger("codecprobe").warning(
            "%s is a git checkout, but git cannot read it (%s): outputs say codecprobe %s+unknown", where,
            why[0] if why else type(e).__name__, __version__,
        )  # fmt: skip
        return f"{__version__}+unknown"
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
