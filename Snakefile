# codecprobe: layer-wise semantic and phonetic probing of speech codecs.
# Default config = the bundled demo; the paper's setup: --configfile config/paper.yaml.
# A --configfile replaces config.yaml (not merged over it): a section it leaves out is
# not built, rather than taken from the demo.


include: "workflow/rules/configfiles.smk"


if not workflow.overwrite_configfiles:

    configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/manifest.smk"
include: "workflow/rules/align.smk"
include: "workflow/rules/words.smk"
include: "workflow/rules/pairs.smk"
include: "workflow/rules/encode.smk"
include: "workflow/rules/distances.smk"
include: "workflow/rules/articulatory.smk"
include: "workflow/rules/cka.smk"
include: "workflow/rules/compare.smk"


rule all:
    default_target: True
    input:
        all_targets(),
