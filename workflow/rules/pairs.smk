rule pair_tokens:
    """The tokens any word pair can use (every seed's sample; pairs.by_speaker's speakers'
    eligible tokens): what the encode jobs encode. It depends on the sampling settings only,
    so a change of pair types, thresholds or caps reruns the pairs, not the encoding."""
    input:
        words=f"{RESULTS}/words/words.csv",
    output:
        f"{RESULTS}/pairs/tokens.csv",
    log:
        f"{LOGS}/pair_tokens.log",
    benchmark:
        f"{BENCH}/pair_tokens.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    params:
        args=tokens_args(config),
    shell:
        "python -m codecprobe.pairs --words {input.words:q} --tokens {output:q} {params.args} --log {log:q}"


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


rule pairs_by_speaker:
    """Choi et al.'s speaker-dependent variant: pairs within each of pairs.by_speaker."""
    input:
        words=f"{RESULTS}/words/words.csv",
    output:
        pairs=f"{RESULTS}/pairs/by_speaker/pairs.parquet",
        summary=report(
            f"{RESULTS}/pairs/by_speaker/pair_summary.csv",
            caption="../report/pair_summary_by_speaker.rst",
            category="Word pairs by speaker",
        ),
    log:
        f"{LOGS}/pairs_by_speaker.log",
    benchmark:
        f"{BENCH}/pairs_by_speaker.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    params:
        args=pairs_args(config, by_speaker=True),
        speakers=shlex.join(BY_SPEAKER),
    shell:
        "python -m codecprobe.pairs --words {input.words:q} --pairs {output.pairs:q}"
        " --summary {output.summary:q} {params.args} --by-speaker {params.speakers} --log {log:q}"
