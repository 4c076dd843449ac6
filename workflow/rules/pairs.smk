rule pairs:
    """Word-pair sets (random, synonym, near-homophone, same-word, same-speaker) per seed."""
    input:
        words=f"{RESULTS}/words/words.csv",
    output:
        pairs=f"{RESULTS}/pairs/pairs.parquet",
        summary=report(
            f"{RESULTS}/pairs/pair_summary.csv",
            caption="../report/pair_summary.rst",
            category="Word pairs",
        ),
        relations=f"{RESULTS}/pairs/word_relations.csv",
    log:
        f"{LOGS}/pairs.log",
    benchmark:
        f"{BENCH}/pairs.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    params:
        args=pairs_args(config),
    shell:
        "python -m codecprobe.pairs --words {input.words:q} --pairs {output.pairs:q}"
        " --summary {output.summary:q} --relations {output.relations:q} {params.args} --log {log:q}"
