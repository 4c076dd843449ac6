rule distances:
    """Per-layer word-pair distances for one codec, aggregated as distances.aggregate says."""
    input:
        features=f"{RESULTS}/features/{{codec}}/words.h5",
        pairs=f"{RESULTS}/pairs/pairs.parquet",
    output:
        f"{RESULTS}/distances/{{codec}}.csv",
    log:
        f"{LOGS}/distances/{{codec}}.log",
    benchmark:
        f"{BENCH}/distances/{{codec}}.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 2
    params:
        args=distances_args(config),
        split=lambda wc: "--split-first" if wc.codec in MIMI_CODECS else "",
    shell:
        "python -m codecprobe.distances --codec {wildcards.codec} --features {input.features:q}"
        " --pairs {input.pairs:q} --out {output:q} {params.args} {params.split} --threads {threads}"
        " --log {log:q}"


rule fig2:
    """Fig. 2 over every codec in the config (adding a codec rebuilds it)."""
    input:
        expand(f"{RESULTS}/distances/{{codec}}.csv", codec=list(CODECS)),
    output:
        table=report(
            f"{RESULTS}/distances/all_codecs.csv",
            caption="../report/distances.rst",
            category="Word pairs",
        ),
        pdf=f"{RESULTS}/figures/fig2_word_pairs.pdf",
        png=report(
            f"{RESULTS}/figures/fig2_word_pairs.png",
            caption="../report/fig2.rst",
            category="Word pairs",
        ),
        latex=report(
            f"{RESULTS}/tables/word_pairs.tex",
            caption="../report/word_pairs_tex.rst",
            category="Word pairs",
        ),
    log:
        f"{LOGS}/fig2.log",
    benchmark:
        f"{BENCH}/fig2.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    params:
        note=config.get("data_label", ""),
        normalized=config.get("distances", {}).get("normalized", "difference"),
    shell:
        "python -m codecprobe.figures --tables {input:q} --combined {output.table:q}"
        " --pdf {output.pdf:q} --png {output.png:q} --note {params.note:q}"
        " --normalized {params.normalized} --latex {output.latex:q} --log {log:q}"


rule distances_by_speaker:
    """Per-layer distances of the by-speaker pairs for one codec; speakers are the replicates."""
    input:
        features=f"{RESULTS}/features/{{codec}}/words.h5",
        pairs=f"{RESULTS}/pairs/by_speaker/pairs.parquet",
    output:
        f"{RESULTS}/distances/by_speaker/{{codec}}.csv",
    log:
        f"{LOGS}/distances_by_speaker/{{codec}}.log",
    benchmark:
        f"{BENCH}/distances_by_speaker/{{codec}}.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 2
    params:
        args=distances_args(config),
    shell:
        "python -m codecprobe.distances --codec {wildcards.codec} --features {input.features:q}"
        " --pairs {input.pairs:q} --out {output:q} {params.args} --over speaker --threads {threads}"
        " --log {log:q}"


rule fig2_by_speaker:
    """Fig. 2 within single speakers (Choi et al.'s speaker-dependent variant), every codec."""
    input:
        expand(f"{RESULTS}/distances/by_speaker/{{codec}}.csv", codec=list(CODECS)),
    output:
        table=report(
            f"{RESULTS}/distances/by_speaker/all_codecs.csv",
            caption="../report/distances_by_speaker.rst",
            category="Word pairs by speaker",
        ),
        pdf=f"{RESULTS}/figures/fig2_word_pairs_by_speaker.pdf",
        png=report(
            f"{RESULTS}/figures/fig2_word_pairs_by_speaker.png",
            caption="../report/fig2_by_speaker.rst",
            category="Word pairs by speaker",
        ),
    log:
        f"{LOGS}/fig2_by_speaker.log",
    benchmark:
        f"{BENCH}/fig2_by_speaker.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    params:
        note=config.get("data_label", ""),
        normalized=config.get("distances", {}).get("normalized", "difference"),
        title="Word-pair distances per codebook layer, within single speakers",
    shell:
        "python -m codecprobe.figures --tables {input:q} --combined {output.table:q}"
        " --pdf {output.pdf:q} --png {output.png:q} --note {params.note:q}"
        " --title {params.title:q} --normalized {params.normalized} --log {log:q}"


rule fig2_split:
    """MIMI's first layer vs layers 2..k on the word pairs (the word-pair analogue of Fig. 4)."""
    input:
        each(
            f"{RESULTS}/distances/{{codec}}.csv",
            "a codec of family mimi with its first-layer split (not with distances.pooling: centroid, nor n_layers: 1)",
            codec=MIMI_CODECS,
        ),
    output:
        pdf=f"{RESULTS}/figures/fig2_first_layer_split.pdf",
        png=report(
            f"{RESULTS}/figures/fig2_first_layer_split.png",
            caption="../report/fig2_split.rst",
            category="Word pairs",
        ),
    log:
        f"{LOGS}/fig2_split.log",
    benchmark:
        f"{BENCH}/fig2_split.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    params:
        note=config.get("data_label", ""),
        normalized=config.get("distances", {}).get("normalized", "difference"),
    shell:
        "python -m codecprobe.figures --split --tables {input:q} --pdf {output.pdf:q}"
        " --png {output.png:q} --note {params.note:q} --normalized {params.normalized}"
        " --log {log:q}"
