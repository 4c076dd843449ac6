# Before Snakemake reads config.yaml: a YAML error there gets its line and column, and
# a key set twice in one mapping (which YAML resolves silently, keeping the second) is
# an error, in config.yaml and in every --configfile. (A --configfile that is not valid
# YAML at all is read by Snakemake before this file runs: its own message.)
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

sys.path.insert(0, str(Path(workflow.basedir) / "workflow"))

from codecprobe.config import check_config_file  # noqa: E402
from codecprobe.io import CodecprobeError  # noqa: E402

try:
    for _file in workflow.overwrite_configfiles or ["config.yaml"]:
        check_config_file(_file)
except CodecprobeError as e:
    raise WorkflowError(str(e)) from None
