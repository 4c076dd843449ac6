rule words:
    """Word table: every aligned word token with its times and phones, after the filters."""
    input:
        manifest=f"{RESULTS}/manifest/utterances.csv",
        textgrids=textgrid_dir(),
    output:
        table=f"{RESULTS}/words/words.csv",
        skipped=f"{RESULTS}/words/skipped_utterances.csv",
        counts=f"{RESULTS}/words/counts.csv",
    log:
        f"{LOGS}/words.log",
    benchmark:
        f"{BENCH}/words.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    params:
        filters=words_args(config),
        files=lambda wc: corpus_fingerprint(config, "textgrids"),
    shell:
        "python -m codecprobe.words --manifest {input.manifest:q} --textgrids {input.textgrids:q}"
        " --out {output.table:q} --skipped {output.skipped:q} --counts {output.counts:q}"
        " {params.filters} --log {log:q}"
