rule manifest:
    """Scan the LibriSpeech-layout corpus into one utterance table."""
    output:
        table=f"{RESULTS}/manifest/utterances.csv",
        skipped=f"{RESULTS}/manifest/skipped.csv",
    log:
        f"{LOGS}/manifest.log",
    benchmark:
        f"{BENCH}/manifest.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    params:
        root=config["librispeech"]["root"],
        subsets=config["librispeech"]["subsets"],
        files=lambda wc: corpus_fingerprint(config, "librispeech"),
    shell:
        "python -m codecprobe.manifest --root {params.root:q} --subsets {params.subsets:q}"
        " --out {output.table:q} --skipped {output.skipped:q} --log {log:q}"
