# Codecs: one encode job per codec in the config (wildcard `codec`).


wildcard_constraints:
    codec="|".join(CODECS),


rule fit_melrvq:
    """Fit the signal-only baseline (log-mel + residual k-means) on the corpus audio."""
    input:
        manifest=f"{RESULTS}/manifest/utterances.csv",
    output:
        f"{RESULTS}/codecs/{{codec}}/melrvq.npz",
    log:
        f"{LOGS}/fit_melrvq/{{codec}}.log",
    benchmark:
        f"{BENCH}/fit_melrvq/{{codec}}.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 2
    params:
        n_layers=lambda wc: CODECS[wc.codec].get("n_layers") or 8,
        codebook_size=lambda wc: CODECS[wc.codec].get("codebook_size", 256),
        seed=lambda wc: CODECS[wc.codec].get("seed", 0),
    shell:
        "python -m codecprobe.codecs.melrvq --manifest {input.manifest:q} --out {output:q}"
        " --n-layers {params.n_layers} --codebook-size {params.codebook_size} --seed {params.seed}"
        " --log {log:q}"


rule encode:
    """Encode the word tokens the pairs can use; per-layer codes and pooled accumulated features."""
    input:
        unpack(encode_inputs),
    output:
        f"{RESULTS}/features/{{codec}}/words.h5",
    log:
        f"{LOGS}/encode/{{codec}}.log",
    benchmark:
        f"{BENCH}/encode/{{codec}}.tsv"
    conda:
        lambda wc: f"../../envs/{codec_env(CODECS[wc.codec])}"
    threads: config.get("encode", {}).get("threads", 2)
    resources:
        gpu=lambda wc: encode_gpu(config, CODECS[wc.codec]),
        encode_run=encode_run_args(config),  # batching: a resource, so changing it reruns nothing
    params:
        codec=lambda wc: codec_json(config, wc.codec, RESULTS),
        args=lambda wc: encode_args(config, codec=CODECS[wc.codec]),
    shell:
        "python -m codecprobe.encode --codec {params.codec:q} --words {input.words:q}"
        " --tokens {input.tokens:q} --out {output:q} {params.args} {resources.encode_run}"
        " --threads {threads}"
        " --log {log:q}"
