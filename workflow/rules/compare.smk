# This run's codecs (Table 1) and its numbers beside the paper's (resources/paper_reference.csv).


rule codec_table:
    """Table 1 of this run: each codec's rates, layers, codebooks and bitrate, from its features."""
    input:
        expand(f"{RESULTS}/features/{{codec}}/words.h5", codec=list(CODECS)),
    output:
        report(
            f"{RESULTS}/tables/codecs.csv",
            caption="../report/codecs.rst",
            category="Codecs",
        ),
    log:
        f"{LOGS}/codec_table.log",
    benchmark:
        f"{BENCH}/codec_table.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    params:
        note=config.get("data_label", ""),
    shell:
        "python -m codecprobe.codectable --features {input:q} --out {output:q} --note {params.note:q} --log {log:q}"


rule paper_comparison:
    """Every number the paper reports for a codec family of this run, beside this run's."""
    input:
        unpack(paper_comparison_inputs),
        reference=PAPER_REFERENCE,
    output:
        report(
            f"{RESULTS}/tables/paper_comparison.csv",
            caption="../report/paper_comparison.rst",
            category="Codecs",
        ),
    log:
        f"{LOGS}/paper_comparison.log",
    benchmark:
        f"{BENCH}/paper_comparison.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    params:
        codecs=lambda wc: json.dumps(
            {
                n: {"family": c["family"], "vectors": c.get("vectors"), "weights": c.get("weights")}
                for n, c in CODECS.items()
            }
        ),
        run=comparison_run_json(config),
        tables=lambda wc, input: " ".join(
            f"--{k.replace('_', '-')} {shlex.quote(v)}"
            for k, v in input.items()
            if k in ("distances", "pwcca", "cka", "codec_table")
        ),
    shell:
        "python -m codecprobe.reference --codecs {params.codecs:q} {params.tables} --run {params.run:q}"
        " --reference {input.reference:q} --out {output:q} --log {log:q}"
