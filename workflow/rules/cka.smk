# Speech-text alignment (Sec. 2.5, 3.3): CKA through each codec's LLM input embeddings.
# Only codecs whose config entry has an `llm` get a job.


rule speech_text_cka:
    """LLM input embeddings of one codec's word codes and of the words' text; CKA table."""
    input:
        features=f"{RESULTS}/features/{{codec}}/words.h5",
    output:
        table=f"{RESULTS}/cka/{{codec}}.csv",
        embeddings=f"{RESULTS}/cka/{{codec}}_embeddings.h5",
    log:
        f"{LOGS}/speech_text_cka/{{codec}}.log",
    benchmark:
        f"{BENCH}/speech_text_cka/{{codec}}.tsv"
    conda:
        "../../envs/codec-hf.yaml"
    threads: 2
    resources:
        gpu=lambda wc: cka_gpu(config, CODECS[wc.codec]),
    params:
        llm=lambda wc: llm_json(config, wc.codec),
        cfg=cka_json(config),
        device=config.get("cka", {}).get("device", "cpu"),
    shell:
        "python -m codecprobe.speechtext run --codec {wildcards.codec} --features {input.features:q}"
        " --llm {params.llm:q} --config {params.cfg:q} --device {params.device}"
        " --out {output.table:q} --embeddings {output.embeddings:q} --log {log:q}"


rule cka_summary:
    """All codecs' CKA: one table, a bar figure with the permutation band, a LaTeX table."""
    input:
        each(f"{RESULTS}/cka/{{codec}}.csv", "a codec with an llm entry (codecs[].llm)", codec=CKA_CODECS),
    output:
        table=report(
            f"{RESULTS}/cka/cka_all_codecs.csv",
            caption="../report/cka.rst",
            category="Speech-text alignment",
        ),
        pdf=f"{RESULTS}/figures/cka_speech_text.pdf",
        png=report(
            f"{RESULTS}/figures/cka_speech_text.png",
            caption="../report/cka.rst",
            category="Speech-text alignment",
        ),
        latex=report(
            f"{RESULTS}/tables/cka.tex",
            caption="../report/cka_tex.rst",
            category="Speech-text alignment",
        ),
    log:
        f"{LOGS}/cka_summary.log",
    benchmark:
        f"{BENCH}/cka_summary.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    params:
        note=config.get("data_label", ""),
    shell:
        "python -m codecprobe.speechtext summary --tables {input:q} --combined {output.table:q}"
        " --pdf {output.pdf:q} --png {output.png:q} --latex {output.latex:q}"
        " --note {params.note:q} --log {log:q}"
