# This run's numbers beside the paper's (resources/paper_reference.csv).


rule paper_comparison:
    """Every number the paper reports for a codec family of this run, beside this run's."""
    input:
        unpack(paper_comparison_inputs),
        reference=PAPER_REFERENCE,
    output:
        f"{RESULTS}/tables/paper_comparison.csv",
    log:
        f"{LOGS}/paper_comparison.log",
    benchmark:
        f"{BENCH}/paper_comparison.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    params:
        codecs=lambda wc: json.dumps(
            {n: {"family": c["family"], "vectors": c.get("vectors")} for n, c in CODECS.items()}
        ),
        tables=lambda wc, input: " ".join(
            f"--{k} {shlex.quote(v)}" for k, v in input.items() if k in ("distances", "pwcca", "cka")
        ),
    shell:
        "python -m codecprobe.reference --codecs {params.codecs:q} {params.tables}"
        " --reference {input.reference:q} --out {output:q} --log {log:q}"
