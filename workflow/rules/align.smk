# Forced alignment with MFA (alignment.source: mfa). With alignment.source:
# textgrids these rules are not used: the word table reads the given folder.


rule mfa_corpus:
    """Lay out the manifest's utterances as MFA reads them (<speaker>/<utt>.flac + .lab)."""
    input:
        manifest=f"{RESULTS}/manifest/utterances.csv",
    output:
        directory(f"{RESULTS}/alignment/mfa_corpus"),
    log:
        f"{LOGS}/mfa_corpus.log",
    benchmark:
        f"{BENCH}/mfa_corpus.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    shell:
        "python -m codecprobe.align --manifest {input.manifest:q} --out {output:q} --log {log:q}"


rule mfa_align:
    """Run `mfa align` (conda env envs/mfa.yaml); writes <speaker>/<utt>.TextGrid."""
    input:
        corpus=f"{RESULTS}/alignment/mfa_corpus",
    output:
        directory(f"{RESULTS}/alignment/mfa"),
    log:
        f"{LOGS}/mfa_align.log",
    benchmark:
        f"{BENCH}/mfa_align.tsv"
    conda:
        "../../envs/mfa.yaml"
    threads: config["alignment"].get("mfa", {}).get("threads", 8)
    params:
        # the settings as a plain param, which Snakemake records (it records no param whose
        # function takes input, output or threads): a change of models or arguments reruns
        models=mfa_settings(config),
        cmd=lambda wc, input, output, threads: mfa_shell(
            input.corpus,
            config["alignment"].get("mfa", {}).get("dictionary", "english_us_arpa"),
            config["alignment"].get("mfa", {}).get("acoustic_model", "english_us_arpa"),
            output[0],
            jobs=threads,
            extra_args=config["alignment"].get("mfa", {}).get("extra_args", ""),
            temp_dir=f"{RESULTS}/alignment/mfa_tmp",
        ),
    shell:
        "({params.cmd}) > {log:q} 2>&1"
